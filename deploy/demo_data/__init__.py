"""The demo data generator behind `deploy/seed.py`: its tables and the code that draws from them.

* `*.toml`: the tables, human-editable (name pools, languages, expertise, assignments, weights);
* `tables.py`: reads each table once, checked against the services' own enums and types;
* `experts.py` and `requests.py`: generate expert records and assistance requests from them.
"""
