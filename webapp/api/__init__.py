"""REST API blueprints, one per area: auth, sequences, leads, campaigns, devices, media, jobs."""
