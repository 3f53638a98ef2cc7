"""The web application: REST API under /api and the server-rendered pages (Flask + gunicorn).

Owns definitions (users, leads, sequences, campaigns, devices, media) and status reads. Must never
send a message itself; it writes rows that the pipelines and the device host act on.
"""
