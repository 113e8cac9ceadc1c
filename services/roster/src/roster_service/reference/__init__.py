"""The reference catalogues: MNR capabilities, UNICEF regions, languages and levels."""
