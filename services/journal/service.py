"""Every completed sale as a journal entry, searchable by terminal and date, and a
reconciliation against cart's own transaction list. Domain errors only.

An entry's key is the sale's own, so writing it twice is harmless; the day's index takes each
event once (IdempotentConsumer.apply), so a crash between the two loses nothing.
"""

from __future__ import annotations

from datetime import date

from kugel_common.dapr import DaprClientHelper, IdempotentConsumer
from kugel_common.repositories import TranlogWebRepository
from kugel_common.schemas import Tranlog

from .models import STORE, Journal, Reconciliation, entry_key, index_key


class JournalService:
    def __init__(self, dapr: DaprClientHelper, consumer: IdempotentConsumer,
                 tranlogs: TranlogWebRepository) -> None:
        self.dapr, self.consumer, self.tranlogs = dapr, consumer, tranlogs

    async def search(self, tenant: str, terminal: str, day: date) -> Journal:
        entries = await self._entries(tenant, terminal, day)
        return Journal(count=len(entries), entries=entries)

    async def reconcile(self, tenant: str, store: str, terminal: str,
                        day: date) -> Reconciliation:
        journal = {t.transaction_no for t in await self._entries(tenant, terminal, day)}
        cart = [t.transaction_no async for t in self.tranlogs.list_transactions(
            tenant, store, terminal, business_date=day)]
        return Reconciliation(cart=len(cart), journal=len(journal),
                              missing_in_journal=[n for n in cart if n not in journal])

    async def record_sale(self, event_id: str, sale: Tranlog) -> None:
        key = entry_key(sale.tenant_id, sale.terminal_id, sale.transaction_no)
        await self.dapr.save_state(STORE, key, sale.model_dump(mode="json"))
        await self.consumer.apply(
            event_id, index_key(sale.tenant_id, sale.terminal_id, sale.business_date),
            lambda numbers: sorted({*(numbers or []), sale.transaction_no}))

    async def _entries(self, tenant: str, terminal: str, day: date) -> list[Tranlog]:
        numbers: list[int] = await self.consumer.read(index_key(tenant, terminal, day)) or []
        keys = [entry_key(tenant, terminal, n) for n in numbers]
        found = await self.dapr.get_bulk_state(STORE, keys)
        return [Tranlog.model_validate(found[k]) for k in keys if k in found]
