"""Request and response schemas (marshmallow, via apiflask): validate input, generate the spec."""
