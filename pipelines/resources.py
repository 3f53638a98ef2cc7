"""The PostgreSQL resource: the project's engine (DATABASE_URL) and the settings the assets use."""

from dagster import ConfigurableResource
from sqlalchemy import Engine

from dripfleet.database import get_engine, resolve_url
from dripfleet.settings import load_settings


class DatabaseResource(ConfigurableResource):
    """The application database; fields left unset come from the environment (Settings)."""

    database_url: str | None = None
    queue_buffer_size: int | None = None
    message_max_age_hours: float | None = None
    run_retention_days: float = 7.0

    def engine(self) -> Engine:
        """The pooled engine (one per process) of the configured database."""
        return get_engine(self.database_url or resolve_url(load_settings()))

    def buffer_size(self) -> int:
        """QUEUE_BUFFER_SIZE: the most queued messages a device may hold."""
        return self.queue_buffer_size or load_settings().queue_buffer_size

    def max_age_hours(self) -> float:
        """MESSAGE_MAX_AGE_HOURS: a queued message older than this is expired."""
        return self.message_max_age_hours or load_settings().message_max_age_hours
