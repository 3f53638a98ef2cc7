"""Materialisation: due sequence steps and campaign audiences become queued messages.

Owns the transactions (Engine in, commits per batch), pandas, rendering, device choice and the COPY
stage (due → render → choose device → stage → insert), and the queue's upkeep jobs. Called by
pipelines/ and tests. No Flask, no Dagster; SQL only through named queries in sql/queries/.
"""
