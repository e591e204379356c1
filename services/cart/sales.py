"""Completing a sale, and the day's sales of a terminal. Domain errors only.

Completing is re-drivable: a retry after a crash or a timeout gets the first attempt's tranlog.
The cart takes its transaction number and freezes (one etag write), then the completed cart,
its tranlog and the tranlog event commit together through ``Outbox.commit``; the relay
publishes the event to ``topic-tranlog`` once the commit is known.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from kugel_common.dapr import DaprClientHelper, Outbox, OutboxMessage, StateOperation
from kugel_common.schemas import Page, Tranlog

from ..errors import ConflictError, NotFoundError
from ..state import load, update
from .models import (
    PUBSUB,
    STORE,
    TOPIC,
    Cart,
    cart_key,
    counter_key,
    event_id,
    tranlog_key,
)


class SaleService:
    def __init__(self, dapr: DaprClientHelper, outbox: Outbox) -> None:
        self.dapr, self.outbox = dapr, outbox

    async def complete(self, tenant: str, cart_id: str) -> Tranlog:
        cart = await load(self.dapr, STORE, cart_key(tenant, cart_id), Cart, "cart")
        if cart.status == "completed":  # a retry: the first attempt's result, its event re-driven
            tranlog = await load(self.dapr, STORE, _tranlog_key(cart), Tranlog, "tranlog")
            await self.outbox.publish(PUBSUB, TOPIC, tranlog.model_dump(mode="json"),
                                      event_id=event_id(tranlog))
            return tranlog
        if cart.status == "open" and (not cart.lines or cart.paid < cart.total):
            raise ConflictError("not_paid", f"paid {cart.paid} of {cart.total}")
        if cart.transaction_no is None:
            cart = await self._freeze(cart.key, await self._number(cart))
        tranlog = Tranlog(
            tenant_id=tenant, store_code=cart.store_code, terminal_id=cart.terminal_id,
            transaction_no=cart.transaction_no, business_date=cart.business_date,
            staff_id=cart.staff_id, lines=tuple(cart.lines), payments=tuple(cart.payments),
            total=cart.total, tax=cart.tax, change=cart.change, completed_at=cart.completed_at)
        body = tranlog.model_dump(mode="json")
        done = cart.model_copy(update={"status": "completed"}).model_dump(mode="json")
        # No etags: the frozen cart's values are fixed, so a concurrent retry writes the same.
        await self.outbox.commit(STORE, [StateOperation.upsert(cart.key, done),
                                         StateOperation.upsert(_tranlog_key(cart), body)],
                                 [OutboxMessage(PUBSUB, TOPIC, body, event_id=event_id(tranlog))])
        return tranlog

    async def transactions(self, tenant: str, store: str, terminal: str, business_date: date,
                           cursor: int, limit: int) -> Page[Tranlog]:
        """The day's sales, read from the numbers the terminal gave out: a number whose sale
        never committed has no tranlog and is skipped, so no list disagrees with the commits."""
        counter = await self.dapr.get_state(STORE, counter_key(tenant, terminal)) or {}
        first = counter.get("days", {}).get(business_date.isoformat())
        if first is None:
            return Page[Tranlog](items=(), next_cursor=None)
        start, last = max(first, cursor), int(counter["last"])
        numbers = range(start, min(last, start + limit - 1) + 1)
        keys = [tranlog_key(tenant, terminal, n) for n in numbers]
        found = await self.dapr.get_bulk_state(STORE, keys)
        sales = [Tranlog.model_validate(found[k]) for k in keys if k in found]
        more = start + limit <= last
        return Page[Tranlog](
            items=tuple(t for t in sales
                        if t.business_date == business_date and t.store_code == store),
            next_cursor=str(start + limit) if more else None)

    async def _number(self, cart: Cart) -> int:
        """The terminal's next transaction number. The counter remembers the cart that took
        the last one, so a retry after a crash takes the same number, not a second one."""
        day = cart.business_date.isoformat()

        def take(current: object) -> object:
            counter: dict[str, Any] = (dict(current) if isinstance(current, dict)
                                       else {"last": 0, "days": {}})
            if counter.get("cart") != cart.cart_id:
                number = counter["last"] + 1
                counter.update(last=number, cart=cart.cart_id,
                               days={day: number, **counter["days"]})
            return counter

        counter = await update(self.dapr, STORE, counter_key(cart.tenant_id, cart.terminal_id),
                               take)
        return int(counter["last"])

    async def _freeze(self, key: str, number: int) -> Cart:
        """Open -> completing, with the number: from here on the cart's values are fixed. A
        concurrent attempt that froze it first keeps its number."""

        def freeze(current: object) -> object:
            if current is None:
                raise NotFoundError("cart not found")
            cart = Cart.model_validate(current)
            if cart.transaction_no is None:
                cart.status, cart.transaction_no = "completing", number
                cart.completed_at = datetime.now(UTC)
            return cart.model_dump(mode="json")

        return Cart.model_validate(await update(self.dapr, STORE, key, freeze))


def _tranlog_key(cart: Cart) -> str:
    return tranlog_key(cart.tenant_id, cart.terminal_id, cart.transaction_no)
