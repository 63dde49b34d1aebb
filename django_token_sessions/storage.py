"""The SQL the package writes by hand, each statement beside its ORM-built twin.

Everything else the package sends to the database is built by the ORM through the model
querysets. Three statements are written here instead, because the ORM compiled them on
every call and that cost more than running them (``benchmarks/RESULTS.md``):

- :func:`swap_refresh_jti`: the compare-and-swap of a refresh, one ``UPDATE``;
- :func:`session_alive`: "the session is not revoked", an ``EXISTS`` the ``db`` revocation
  backend adds to the user query of the authentication;
- :func:`table_estimate`: PostgreSQL's row estimate, for the admin's paginator.

Each hand-written statement is built from model metadata once per shape, and only quoted
identifiers enter its text; values are parameters. Its twin (:func:`swap_refresh_jti_orm`,
:func:`session_alive_orm`) is the same statement built by the ORM, which the tests run
side by side with it on SQLite, PostgreSQL and MariaDB and require to give the same
answers. Nothing above this module sends SQL of its own (a test enforces that).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import BooleanField, Exists, Field, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from .models import DeviceSession, RevocationRecord

__all__ = [
    "UserCondition",
    "recent_revocation_records",
    "recently_revoked_session_ids",
    "session_alive",
    "session_alive_orm",
    "swap_refresh_jti",
    "swap_refresh_jti_orm",
    "table_estimate",
]


class UserCondition:
    """Which user the swapped session must belong to.

    Either ``user_pk`` (the caller loaded and checked the user), or the token's user id
    claim matched against ``id_field`` of the user table inside the statement, with
    ``require_active`` adding "and ``is_active``" (simplejwt's default user rule folded
    into the statement).
    """

    def __init__(
        self,
        *,
        user_pk: Any = None,
        user_claim: Any = None,
        id_field: str = "pk",
        require_active: bool = False,
    ) -> None:
        self.user_pk = user_pk
        self.user_claim = user_claim
        self.id_field = id_field
        self.require_active = require_active

    @property
    def by_claim(self) -> bool:
        """True if the user is matched by claim inside the statement."""
        return self.user_pk is None


def _field(model: Any, name: str) -> Field[Any, Any]:
    """A concrete field of ``model`` by name, ``"pk"`` included."""
    return cast("Field[Any, Any]", model._meta.pk if name == "pk" else model._meta.get_field(name))


def swap_refresh_jti(
    session_id: UUID,
    jti: str,
    *,
    user: UserCondition,
    values: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Write ``values`` to the session if it still holds ``jti``, is neither revoked nor
    expired at ``now``, and belongs to ``user``; True if it did.

    One ``UPDATE``, so of concurrent callers exactly one wins. A user matched by claim is
    an ``EXISTS`` on the user table (a subquery, not a join, so MySQL and MariaDB run one
    statement too). Raises the lookup error of a claim of the wrong shape for the user
    table (``ValueError``, ``TypeError``, ``ValidationError``).
    """
    alias = router.db_for_write(DeviceSession)
    connection = connections[alias]

    def prep(model: Any, name: str, value: Any) -> Any:
        return _field(model, name).get_db_prep_value(value, connection)

    params = [prep(DeviceSession, name, value) for name, value in values.items()]
    when = prep(DeviceSession, "idle_expires_at", now)
    params += [prep(DeviceSession, "pk", session_id), jti, when, when]
    user_model = get_user_model()
    if user.by_claim:
        params.append(prep(user_model, user.id_field, user.user_claim))
        if user.require_active:
            params.append(True)
    else:
        params.append(prep(DeviceSession, "user", user.user_pk))
    sql = _swap_sql(alias, tuple(values), user)
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount == 1)


def swap_refresh_jti_orm(
    session_id: UUID,
    jti: str,
    *,
    user: UserCondition,
    values: Mapping[str, Any],
    now: datetime,
) -> bool:
    """:func:`swap_refresh_jti` built by the ORM: the reference the tests hold it to."""
    sessions = DeviceSession.objects.filter(
        pk=session_id,
        refresh_jti=jti,
        revoked_at__isnull=True,
        idle_expires_at__gt=now,
        absolute_expires_at__gt=now,
    )
    if user.by_claim:
        owners = (
            get_user_model()
            ._base_manager.filter(pk=OuterRef("user"))
            .filter(**{user.id_field: user.user_claim})
        )
        if user.require_active:
            owners = owners.filter(is_active=True)
        sessions = sessions.filter(Exists(owners))
    else:
        sessions = sessions.filter(user=user.user_pk)
    return bool(sessions.update(**values) == 1)


_SWAP_SQL: dict[tuple[Any, ...], str] = {}


def _swap_sql(alias: str, columns: tuple[str, ...], user: UserCondition) -> str:
    user_model = get_user_model()
    key = (
        alias,
        columns,
        user.by_claim,
        user.require_active,
        user.id_field,
        user_model._meta.label,
    )
    sql = _SWAP_SQL.get(key)
    if sql is None:
        qn = connections[alias].ops.quote_name
        table = qn(DeviceSession._meta.db_table)

        def column(model: Any, name: str) -> str:
            return qn(str(_field(model, name).column))

        def session_column(name: str) -> str:
            return f"{table}.{column(DeviceSession, name)}"

        if user.by_claim:
            owner = (
                f"EXISTS (SELECT 1 FROM {qn(user_model._meta.db_table)} U0"  # noqa: S608
                f" WHERE U0.{column(user_model, 'pk')} = {session_column('user')}"
                f" AND U0.{column(user_model, user.id_field)} = %s"
                + (f" AND U0.{column(user_model, 'is_active')} = %s" if user.require_active else "")
                + ")"
            )
        else:
            owner = f"{session_column('user')} = %s"
        sql = (
            f"UPDATE {table} SET "  # noqa: S608
            + ", ".join(f"{column(DeviceSession, name)} = %s" for name in columns)
            + f" WHERE {session_column('pk')} = %s AND {session_column('refresh_jti')} = %s"
            + f" AND {session_column('revoked_at')} IS NULL"
            + f" AND {session_column('idle_expires_at')} > %s"
            + f" AND {session_column('absolute_expires_at')} > %s"
            + f" AND {owner}"
        )
        _SWAP_SQL[key] = sql
    return sql


def session_alive(session_id: UUID) -> RawSQL:
    """``EXISTS (the session, of the user row being selected, not revoked)``: an
    expression to annotate the user query with."""
    alias = router.db_for_read(DeviceSession)
    connection = connections[alias]
    params = (_field(DeviceSession, "pk").get_db_prep_value(session_id, connection),)
    return RawSQL(_alive_sql(alias), params, output_field=BooleanField())  # noqa: S611


def session_alive_orm(session_id: UUID) -> Exists:
    """:func:`session_alive` built by the ORM: the reference the tests hold it to."""
    return Exists(
        DeviceSession.objects.filter(
            pk=session_id,
            user=OuterRef("pk"),
            revoked_at__isnull=True,
        )
    )


_ALIVE_SQL: dict[tuple[str, str], str] = {}


def _alive_sql(alias: str) -> str:
    user_model = get_user_model()
    key = (alias, user_model._meta.label)
    sql = _ALIVE_SQL.get(key)
    if sql is None:
        qn = connections[alias].ops.quote_name
        meta, user_meta = DeviceSession._meta, user_model._meta

        def column(field: Any) -> str:
            return qn(str(field.column))

        sql = (
            f"EXISTS (SELECT 1 FROM {qn(meta.db_table)}"  # noqa: S608
            f" WHERE {column(meta.pk)} = %s"
            f" AND {column(meta.get_field('user'))}"
            f" = {qn(user_meta.db_table)}.{column(user_meta.pk)}"
            f" AND {column(meta.get_field('revoked_at'))} IS NULL)"
        )
        _ALIVE_SQL[key] = sql
    return sql


def table_estimate(queryset: QuerySet[Any]) -> int:
    """PostgreSQL's estimate of the number of rows of ``queryset``'s table
    (``pg_class.reltuples``, kept fresh by autovacuum): one catalogue lookup.

    -1 where there is none: another database, a table never analysed (-1 or 0 there).
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return -1
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return math.ceil(row[0]) if row and row[0] is not None else -1


def recently_revoked_session_ids(since: datetime) -> Iterator[UUID]:
    """Ids of the sessions revoked at or after ``since``, streamed."""
    ids = DeviceSession.objects.filter(revoked_at__gte=since).values_list("pk", flat=True)
    return ids.iterator(chunk_size=2000)


def recent_revocation_records(since: datetime) -> Iterator[tuple[UUID | None, str, int]]:
    """``(session_id, user_claim, not_before_ms)`` of the revocation records written at or
    after ``since``, oldest first; a record not written by the package (no
    ``not_before_ms``) gets its creation time."""
    records = (
        RevocationRecord.objects.filter(created_at__gte=since)
        .order_by("created_at", "pk")
        .values_list("session_id", "user_claim", "not_before_ms", "created_at")
    )
    for session_id, user_claim, before_ms, created_at in records.iterator(chunk_size=2000):
        if before_ms is None:
            before_ms = int(created_at.timestamp() * 1000)
        yield session_id, user_claim, before_ms
