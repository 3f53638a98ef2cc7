"""Dagster pipelines: every-minute enrolment, due sequence steps, campaign audiences, stats.

Owns deciding *what* to send and materialising it into message_queue. Must never talk to WhatsApp,
and runs its SQL only through the kernel's stores / named queries.
"""
