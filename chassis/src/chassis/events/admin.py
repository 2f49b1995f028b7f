"""Events in the admin: the outbox (what this service sent or still has to send), handled
events, and parked events with a redrive action. Sent, handled and redriven rows are listed
until the hourly purge deletes them (chassis.events.retention: 7, 14 and 30 days by
default); pending outbox rows and parked events waiting for staff stay until acted on."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from chassis.admin import ReadOnlyAdminMixin
from chassis.events.consumer import UnverifiedEventRedrive, redrive
from chassis.events.models import InboxEvent, OutboxEvent, ParkedEvent

__all__ = ["InboxEventAdmin", "OutboxEventAdmin", "ParkedEventAdmin"]


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    show_full_result_count = False


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Published"), ("no", "Pending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(published_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "type", "id", "published_at", "attempts", "correlation_id")
    list_filter = (PublishedFilter, "type")
    search_fields = ("=id", "=correlation_id")


@admin.register(InboxEvent)
class InboxEventAdmin(ReadOnlyAdmin):
    list_display = ("handled_at", "type", "event_id", "producer")
    list_filter = ("type", "producer")
    search_fields = ("=event_id",)


@admin.register(ParkedEvent)
class ParkedEventAdmin(ReadOnlyAdmin):
    list_display = ("parked_at", "type", "event_id", "attempts", "redriven_at")
    list_filter = ("type", ("redriven_at", admin.EmptyFieldListFilter))
    search_fields = ("=event_id",)
    readonly_fields = ("event_id", "type", "envelope", "error", "attempts", "parked_at")
    actions = ("redrive_events",)

    @admin.action(description="Redrive: send the selected events to this service again")
    def redrive_events(self, request: HttpRequest, queryset: QuerySet[ParkedEvent]) -> None:
        count = 0
        for parked in queryset.filter(redriven_at__isnull=True):
            try:
                redrive(parked)
            except UnverifiedEventRedrive as exc:  # a forged event stays parked
                messages.error(request, f"Not sent: {exc}.")
                continue
            except Exception as exc:  # the broker is unreachable: say so, keep the rest parked
                messages.error(request, f"Could not reach the broker: {exc}. Try again later.")
                break
            count += 1
        messages.info(request, f"{count} event(s) sent again.")
