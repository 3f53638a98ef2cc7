"""Business rules of the web app, callable without HTTP (the API and the pages both use them).

Each function takes a SQLAlchemy connection and the acting user's id and raises a ServiceError
(webapp.services.errors) for anything the caller must show to a person. No Flask imports here.
"""
