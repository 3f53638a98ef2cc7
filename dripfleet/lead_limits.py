"""Size limits of a lead's fields, the same on every path that writes leads (API, CSV import).

They keep what a template can reach small: a message is capped at 65,536 characters
(dripfleet.templates), and one value alone should never come near that.
"""

__all__ = ["MAX_ATTRIBUTES", "MAX_ATTRIBUTE_CHARS", "MAX_ATTRIBUTE_NAME_CHARS", "MAX_NAME_CHARS",
           "MAX_NICHE_CHARS"]

# A value is a personalisation field (city, company, plan, a short note). 2,000 characters is
# about a page of text, and it is what the API has accepted since its first version, so no client
# sees a change and both paths agree; 33 such values still fit in one message.
MAX_ATTRIBUTE_CHARS = 2_000
# Attributes per lead, and the length of an attribute's name (a CSV header).
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_NAME_CHARS = 100
# A lead's name, and one niche tag (a tag is also a key of the niches GIN index, whose entries
# must stay below about 2,700 bytes).
MAX_NAME_CHARS = 200
MAX_NICHE_CHARS = 100
