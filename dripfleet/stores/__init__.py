"""Stores: the only code that pairs a named query (sql/queries/*.sql) with its arguments.

One module per area (users, devices, leads, messages, ...), shared by every process. Stores take
a SQLAlchemy Connection and never commit on their own unless a function's docstring says so;
materialisation (transactions, pandas, rendering, device choice) is dripfleet.materialise.
"""
