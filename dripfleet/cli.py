"""The `dripfleet` command line: migrate, create-user, create-token, up, and process entry points.

Every command reads the same Settings; bad configuration exits 2 with one line naming the variable.
"""

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence

from dripfleet import credentials
from dripfleet.log_setup import configure_logging
from dripfleet.settings import Settings, exit_on_config_error, load_settings

Command = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Register a subcommand handler."""

    def register(handler: Command) -> Command:
        _COMMANDS[name] = handler
        return handler

    return register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dripfleet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="apply pending schema migrations")
    user = sub.add_parser("create-user", help="create a user (password read from a prompt)")
    user.add_argument("email")
    user.add_argument("--name", default="")
    user.add_argument("--timezone", default="UTC", help="IANA zone, e.g. Asia/Kuala_Lumpur")
    user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    token = sub.add_parser("create-token", help="create an API token and print it once")
    token.add_argument("email")
    token.add_argument("--name", default="cli")
    up = sub.add_parser("up", help="run the whole system (embedded PostgreSQL unless DATABASE_URL)")
    up.add_argument("--procfile", default="Procfile")
    up.add_argument("--no-demo", action="store_true", help="do not create the demo workspace")
    sub.add_parser("device-host", help="run the device host (supervisor + worker processes)")
    sub.add_parser("webhooks", help="run the webhooks dispatcher (sends the outbox, signed)")
    tick = sub.add_parser("tick", help="run one pipelines tick (the Dagster job) in this process")
    tick.add_argument("--at", help="the tick's instant, ISO 8601 (default: now)")
    dagster = sub.add_parser(
        "dagster", help="run a Dagster command with DAGSTER_HOME and its storage URL prepared"
    )
    dagster.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the command")
    reply = sub.add_parser(
        "sim-reply", help="simulated network: a lead writes TEXT to a device (as a real reply)")
    reply.add_argument("--from", dest="phone", required=True, metavar="LEAD_PHONE")
    reply.add_argument("--to", dest="device_id", required=True, type=int, metavar="DEVICE_ID")
    reply.add_argument("text", metavar="TEXT")
    # other processes' entry points go here; their handlers import lazily so that
    # `dripfleet migrate` does not import Dagster, Flask or the device host
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    args = _parser().parse_args(argv)
    with exit_on_config_error():
        settings = load_settings()
        configure_logging(args.command, settings.log_level, settings.log_format)
        return _COMMANDS[args.command](args, settings)


@command("migrate")
def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from dripfleet.database import resolve_url
    from dripfleet.migrations import MigrationError, migrate

    try:
        applied = migrate(resolve_url(settings), report=print)
    except MigrationError as error:
        print(f"dripfleet migrate: {error}", file=sys.stderr)
        return 1
    if not applied:
        print("database is up to date")
    return 0


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        print("passwords do not match", file=sys.stderr)
        return None
    return first


@command("create-user")
def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from dripfleet.database import get_engine
    from dripfleet.stores import users

    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"--timezone: {args.timezone!r} is not an IANA time zone", file=sys.stderr)
        return 2
    password = _read_password(args.password_stdin)
    if password is None:
        print("no password: use --password-stdin or run in a terminal", file=sys.stderr)
        return 2
    problem = credentials.password_problem(password)
    if problem:
        print(f"password {problem}", file=sys.stderr)
        return 2
    try:
        with get_engine().begin() as conn:
            user = users.create_user(conn, args.email, password, args.name, args.timezone)
    except users.EmailTaken:
        print(f"a user with email {args.email} already exists", file=sys.stderr)
        return 1
    print(f"created user {user['id']} <{user['email']}>")
    return 0


@command("create-token")
def _create_token(args: argparse.Namespace, settings: Settings) -> int:
    from dripfleet.database import get_engine
    from dripfleet.stores import users

    with get_engine().begin() as conn:
        user = users.find_by_email(conn, args.email)
        if user is None:
            print(f"no user with email {args.email}", file=sys.stderr)
            return 1
        token, _row = users.create_token(conn, user["id"], args.name)
    print(token)
    print("(shown once: only its hash is stored)", file=sys.stderr)
    return 0


@command("up")
def _up(args: argparse.Namespace, settings: Settings) -> int:
    from dripfleet.launcher import run_up

    return run_up(settings, procfile=args.procfile, demo=not args.no_demo)


@command("device-host")
def _device_host(args: argparse.Namespace, settings: Settings) -> int:
    from device_host.supervisor import run_device_host
    from dripfleet.database import resolve_url

    return run_device_host(settings, resolve_url(settings))


@command("webhooks")
def _webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from dripfleet.database import resolve_url
    from webhooks.dispatcher import run_dispatcher

    return run_dispatcher(settings, resolve_url(settings))


@command("tick")
def _tick(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    from pipelines.tick import run_tick

    now = datetime.fromisoformat(args.at) if args.at else None
    result = run_tick(now)
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        shown = {k: v.value for k, v in meta.items() if isinstance(v.value, int | float)}
        print(f"{event.asset_key.to_user_string()}: {shown}")
    return 0 if result.success else 1


@command("dagster")
def _dagster(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.dagster_home import exec_dagster

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    exec_dagster(settings, argv)
    return 1  # not reached: exec replaces this process

@command("sim-reply")
def _sim_reply(args: argparse.Namespace, settings: Settings) -> int:
    from dripfleet.database import get_engine, resolve_url
    from dripfleet.phones import try_normalize_phone
    from dripfleet.stores import simulated

    if settings.transport != "simulated":
        print("dripfleet sim-reply: only with the simulated network (TRANSPORT=simulated)",
              file=sys.stderr)
        return 2
    phone, problem = try_normalize_phone(args.phone, settings.default_region)
    if phone is None:
        print(f"dripfleet sim-reply: --from: {args.phone!r}: {problem}", file=sys.stderr)
        return 2
    with get_engine(resolve_url(settings)).begin() as conn:
        if not simulated.add_inbox(conn, args.device_id, phone, args.text):
            print(f"dripfleet sim-reply: --to: there is no device {args.device_id}",
                  file=sys.stderr)
            return 2
    print(f"{phone} wrote to device {args.device_id}; the device host that drives it receives it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
