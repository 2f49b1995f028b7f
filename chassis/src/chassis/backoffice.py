"""The three admins as one back office: what every service's admin shares.

* a header naming the service with links between the admins
  (``CHASSIS["BACKOFFICE"]["ADMINS"]``: the services whose admins are at ``/admin/<name>/``,
  ``BACKOFFICE_ADMINS`` in the environment; the templates are under chassis/templates);
* an index that shows what needs attention: ``CHASSIS["BACKOFFICE"]["ATTENTION"]`` names a
  function ``(request) -> [Panel, ...]`` (each panel a count with a link to the list that
  shows the rows);
* actions with a confirmation page (:func:`confirmed_action`), each change recorded in Django's
  admin log, refusals (a domain error) reported per object;
* ids that are UUIDs shown short in lists (:func:`short_uuid`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.module_loading import import_string

from chassis.errors import DomainError
from chassis.settings import chassis_settings

__all__ = ["Panel", "attention_panels", "backoffice_links", "confirmed_action", "short_uuid"]


@dataclass(frozen=True)
class Panel:
    """One "needs attention" line of an admin's index: ``count`` rows, listed at ``url``."""

    title: str
    count: int
    url: str


def backoffice_links(request: HttpRequest) -> list[dict[str, Any]]:
    """The header's links to every admin of the back office, this one marked current."""
    current = chassis_settings.SERVICE_NAME
    return [
        {"name": name, "url": f"/admin/{name}/", "current": name == current}
        for name in chassis_settings.BACKOFFICE["ADMINS"]
    ]


def attention_panels(request: HttpRequest) -> list[Panel]:
    """The service's "needs attention" panels (none when it names no function)."""
    path = chassis_settings.BACKOFFICE["ATTENTION"]
    return list(import_string(path)(request)) if path else []


def short_uuid(field: str, description: str = "id") -> Callable[[Any], str]:
    """A changelist column showing the UUID in ``field`` by its first 8 characters (the full
    value stays searchable and is on the object's page), ordered by the field."""

    @admin.display(description=description, ordering=field)
    def column(obj: Any) -> str:
        return str(getattr(obj, field))[:8]

    return column


Apply = Callable[..., None]


def confirmed_action(
    description: str, *, done: str, permissions: list[str], form: type[forms.Form] | None = None
) -> Callable[[Apply], Any]:
    """Decorate ``apply(modeladmin, request, obj, **form_data)`` into an admin action that
    first shows a confirmation page (the selected objects and ``form``'s fields), then applies
    it to each object, records each change in the admin log, and says ``done`` (formatted
    with ``count``) and, per object, why it was refused (a DomainError's detail)."""

    def decorate(apply: Apply) -> Any:
        @admin.action(description=description, permissions=permissions)
        @functools.wraps(apply)
        def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
            confirmed = "confirm" in request.POST
            bound = form(request.POST if confirmed else None) if form else None
            if confirmed and (bound is None or bound.is_valid()):
                data = bound.cleaned_data if bound is not None else {}
                _apply_each(modeladmin, request, queryset, apply, data, description, done)
                return None
            return TemplateResponse(
                request,
                "admin/chassis/confirm_action.html",
                {
                    **modeladmin.admin_site.each_context(request),
                    "title": f"{description}?",
                    "opts": modeladmin.model._meta,
                    "objects": list(queryset),
                    "form": bound or (form() if form else None),
                    "action": request.POST.get("action", apply.__name__),
                    "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )

        return action

    return decorate


def _apply_each(
    modeladmin: Any,
    request: HttpRequest,
    queryset: QuerySet[Any],
    apply: Apply,
    data: dict[str, Any],
    description: str,
    done: str,
) -> None:
    count, refused = 0, []
    for obj in queryset:
        try:
            apply(modeladmin, request, obj, **data)
        except DomainError as exc:
            refused.append(f"{obj}: {exc.detail}")
            continue
        details = ", ".join(f"{k}={v}" for k, v in data.items())
        modeladmin.log_change(request, obj, f"{description}" + (f" ({details})" if details else ""))
        count += 1
    messages.info(request, done.format(count=count))
    for line in refused:
        messages.warning(request, line)
