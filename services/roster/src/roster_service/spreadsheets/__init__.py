"""Spreadsheets: importing and exporting experts as CSV or XLSX."""
