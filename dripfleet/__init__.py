"""dripfleet's shared kernel: settings, database access and named queries, domain rules.

Owns what more than one process needs (phones, niches, templates, local times, credentials, the
`dripfleet` command line). Must not import Flask, Dagster or neonize: every process imports it.
"""
