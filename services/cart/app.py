"""cart: carts and completed transactions (state store ``cartstore``, written with etags).

Completing a sale is re-drivable: a retry after a crash or a timeout gets the first attempt's
tranlog. The cart takes its transaction number and freezes (one etag write), then the completed
cart, its tranlog and the tranlog event commit together through ``Outbox.commit``; the relay
publishes the event to ``topic-tranlog`` once the commit is known.
"""

import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from dependency_injector import providers
from fastapi import FastAPI, Query
from pydantic import BaseModel

from kugel_common import DaprClientHelper
from kugel_common.dapr import Outbox, OutboxMessage, StateOperation
from kugel_common.fastapi import ApiError, Provided, create_app
from kugel_common.repositories import (
    ItemMasterWebRepository,
    NotFound,
    PaymentMasterWebRepository,
    RepositoryUnavailable,
    SettingsMasterWebRepository,
    StoreInfoWebRepository,
    TerminalInfoWebRepository,
)
from kugel_common.schemas import (
    Amount,
    Code,
    Cursor,
    Id,
    ItemCode,
    Page,
    Quantity,
    Text,
    Tranlog,
    TranlogLine,
    TranlogPayment,
)

from ..common import ServiceContainer, install_domain_errors, tenant_router
from ..state import load, update

APP_ID = "cart"
STORE = "cartstore"
PUBSUB, TOPIC = "pubsub-tranlog-report", "topic-tranlog"
CENT = Decimal("0.01")


class Container(ServiceContainer):
    items = providers.Singleton(ItemMasterWebRepository, ServiceContainer.http_client,
                                auth=ServiceContainer.own_token)
    payments = providers.Singleton(PaymentMasterWebRepository, ServiceContainer.http_client,
                                   auth=ServiceContainer.own_token)
    settings_master = providers.Singleton(SettingsMasterWebRepository, ServiceContainer.http_client,
                                          auth=ServiceContainer.own_token)
    terminals = providers.Singleton(TerminalInfoWebRepository, ServiceContainer.http_client,
                                    auth=ServiceContainer.own_token)
    stores = providers.Singleton(StoreInfoWebRepository, ServiceContainer.http_client,
                                 auth=ServiceContainer.own_token)


Dapr = Annotated[DaprClientHelper, Provided(Container.dapr)]
router = tenant_router()


class Cart(BaseModel):
    tenant_id: Code
    cart_id: Id
    store_code: Code
    terminal_id: Id
    business_date: date
    staff_id: Code | None
    receipt_header: Text = ""
    status: Literal["open", "completing", "completed"] = "open"
    lines: list[TranlogLine] = []
    payments: list[TranlogPayment] = []
    change: Decimal = Decimal("0")
    transaction_no: int | None = None
    completed_at: datetime | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0"))

    @property
    def tax(self) -> Decimal:
        """Prices include tax: each line's share is amount x rate / (1 + rate)."""
        return sum((_cents(line.amount * line.tax_rate / (1 + line.tax_rate))
                    for line in self.lines), Decimal("0"))


class CartView(Cart):
    total_amount: Decimal
    paid_amount: Decimal
    tax_amount: Decimal


class NewCart(BaseModel):
    terminal_id: Id


class AddItem(BaseModel):
    item_code: ItemCode
    quantity: Quantity = 1


class AddPayment(BaseModel):
    payment_code: Code
    amount: Amount


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _view(cart: Cart) -> CartView:
    return CartView(**cart.model_dump(), total_amount=cart.total, paid_amount=cart.paid,
                    tax_amount=cart.tax)


@router.post("/carts", status_code=201)
async def create_cart(
    tenant_id: Code, body: NewCart, dapr: Dapr,
    terminals: Annotated[TerminalInfoWebRepository, Provided(Container.terminals)],
    stores: Annotated[StoreInfoWebRepository, Provided(Container.stores)],
    settings: Annotated[SettingsMasterWebRepository, Provided(Container.settings_master)],
) -> CartView:
    try:
        terminal = await terminals.get_terminal(tenant_id, body.terminal_id)
    except NotFound as exc:
        raise ApiError(422, "unknown_terminal", f"no terminal {body.terminal_id!r}") from exc
    if terminal.status != "opened" or terminal.business_date is None:
        raise ApiError(409, "terminal_not_open", f"terminal {body.terminal_id} is not open")
    await stores.get_store(tenant_id, terminal.store_code)
    try:
        header = await settings.get_setting_value(tenant_id, "receipt_header",
                                                  store=terminal.store_code, default="")
    except RepositoryUnavailable:  # a receipt header is not worth refusing a sale for
        header = ""
    cart = Cart(tenant_id=tenant_id, cart_id=str(uuid.uuid4()), store_code=terminal.store_code,
                terminal_id=terminal.terminal_id, business_date=terminal.business_date,
                staff_id=terminal.staff_id, receipt_header=header or "")
    # A fresh uuid needs no first-write: on state.redis a key written first-write refuses every
    # later write without its etag, the completing transaction's included.
    await dapr.save_state(STORE, _key(cart), cart.model_dump(mode="json"))
    return _view(cart)


@router.get("/carts/{cart_id}")
async def get_cart(tenant_id: Code, cart_id: Id, dapr: Dapr) -> CartView:
    return _view(await load(dapr, STORE, f"cart:{tenant_id}:{cart_id}", Cart, "cart"))


@router.post("/carts/{cart_id}/items")
async def add_item(
    tenant_id: Code, cart_id: Id, body: AddItem, dapr: Dapr,
    items: Annotated[ItemMasterWebRepository, Provided(Container.items)],
) -> CartView:
    cart = await _open_cart(dapr, tenant_id, cart_id)
    try:
        item = await items.get_item(tenant_id, cart.store_code, body.item_code)
    except NotFound as exc:
        raise ApiError(422, "unknown_item", f"no item {body.item_code!r}") from exc
    line = TranlogLine(item_code=item.item_code, description=item.description,
                       quantity=body.quantity, unit_price=item.unit_price,
                       tax_rate=item.tax_rate, amount=_cents(item.unit_price * body.quantity))

    def add(current: object) -> object:
        cart = _still_open(current)
        if cart.payments:
            raise ApiError(409, "payment_started", "items cannot change once payment began")
        cart.lines.append(line)
        return cart.model_dump(mode="json")

    return _view(Cart.model_validate(await update(dapr, STORE, _key(cart), add)))


@router.post("/carts/{cart_id}/payments")
async def add_payment(
    tenant_id: Code, cart_id: Id, body: AddPayment, dapr: Dapr,
    payments: Annotated[PaymentMasterWebRepository, Provided(Container.payments)],
) -> CartView:
    cart = await _open_cart(dapr, tenant_id, cart_id)
    try:
        method = await payments.get_payment(tenant_id, body.payment_code)
    except NotFound as exc:
        raise ApiError(422, "unknown_payment", f"no payment {body.payment_code!r}") from exc

    def pay(current: object) -> object:
        cart = _still_open(current)
        if not cart.lines:
            raise ApiError(409, "empty_cart", "add items before paying")
        remaining = cart.total - cart.paid
        if remaining <= 0:
            raise ApiError(409, "already_paid", "the cart is paid in full")
        if body.amount > remaining and not method.can_change:
            raise ApiError(422, "overpayment", f"{method.payment_code} gives no change")
        cart.payments.append(TranlogPayment(payment_code=method.payment_code,
                                            amount=body.amount))
        cart.change = max(Decimal("0"), cart.paid - cart.total)
        return cart.model_dump(mode="json")

    return _view(Cart.model_validate(await update(dapr, STORE, _key(cart), pay)))


@router.post("/carts/{cart_id}/complete")
async def complete(tenant_id: Code, cart_id: Id, dapr: Dapr,
                   outbox: Annotated[Outbox, Provided(Container.outbox)]) -> Tranlog:
    key = f"cart:{tenant_id}:{cart_id}"
    cart = await load(dapr, STORE, key, Cart, "cart")
    if cart.status == "completed":  # a retry: the first attempt's result, its event re-driven
        tranlog = await load(dapr, STORE, _tranlog_key(tenant_id, cart), Tranlog, "tranlog")
        await outbox.publish(PUBSUB, TOPIC, tranlog.model_dump(mode="json"),
                             event_id=_event_id(tranlog))
        return tranlog
    if cart.status == "open" and (not cart.lines or cart.paid < cart.total):
        raise ApiError(409, "not_paid", f"paid {cart.paid} of {cart.total}")
    if cart.transaction_no is None:
        cart = await _freeze(dapr, key, await _number(dapr, cart))
    tranlog = Tranlog(
        tenant_id=tenant_id, store_code=cart.store_code, terminal_id=cart.terminal_id,
        transaction_no=cart.transaction_no, business_date=cart.business_date,
        staff_id=cart.staff_id, lines=tuple(cart.lines), payments=tuple(cart.payments),
        total=cart.total, tax=cart.tax, change=cart.change, completed_at=cart.completed_at)
    body = tranlog.model_dump(mode="json")
    done = cart.model_copy(update={"status": "completed"}).model_dump(mode="json")
    # No etags: the frozen cart's values are fixed, so a concurrent retry writes the same ones.
    await outbox.commit(STORE, [StateOperation.upsert(key, done),
                                StateOperation.upsert(_tranlog_key(tenant_id, cart), body)],
                        [OutboxMessage(PUBSUB, TOPIC, body, event_id=_event_id(tranlog))])
    return tranlog


async def _number(dapr: DaprClientHelper, cart: Cart) -> int:
    """The terminal's next transaction number. The counter remembers the cart that took the
    last one, so a retry after a crash takes the same number, not a second one."""
    day = cart.business_date.isoformat()

    def take(current: object) -> object:
        counter = dict(current) if isinstance(current, dict) else {"last": 0, "days": {}}
        if counter.get("cart") != cart.cart_id:
            number = counter["last"] + 1
            counter.update(last=number, cart=cart.cart_id,
                           days={day: number, **counter["days"]})
        return counter

    counter = await update(dapr, STORE, _counter_key(cart.tenant_id, cart.terminal_id), take)
    return int(counter["last"])


async def _freeze(dapr: DaprClientHelper, key: str, number: int) -> Cart:
    """Open -> completing, with the number: from here on the cart's values are fixed. A
    concurrent attempt that froze it first keeps its number."""

    def freeze(current: object) -> object:
        if current is None:
            raise ApiError(404, "not_found", "cart not found")
        cart = Cart.model_validate(current)
        if cart.transaction_no is None:
            cart.status, cart.transaction_no = "completing", number
            cart.completed_at = datetime.now(UTC)
        return cart.model_dump(mode="json")

    return Cart.model_validate(await update(dapr, STORE, key, freeze))


@router.get("/stores/{store}/terminals/{terminal}/transactions")
async def list_transactions(tenant_id: Code, store: Code, terminal: Id, business_date: date,
                            dapr: Dapr, cursor: Cursor = 0,
                            limit: Annotated[int, Query(gt=0, le=500)] = 100) -> Page[Tranlog]:
    """The day's sales, read from the numbers the terminal gave out: a number whose sale never
    committed has no tranlog and is skipped, so no list can disagree with the commits."""
    counter = await dapr.get_state(STORE, _counter_key(tenant_id, terminal)) or {}
    first = counter.get("days", {}).get(business_date.isoformat())
    if first is None:
        return Page[Tranlog](items=(), next_cursor=None)
    start, last = max(first, cursor), int(counter["last"])
    numbers = range(start, min(last, start + limit - 1) + 1)
    keys = [f"tranlog:{tenant_id}:{terminal}:{n}" for n in numbers]
    found = await dapr.get_bulk_state(STORE, keys)
    sales = [Tranlog.model_validate(found[k]) for k in keys if k in found]
    more = start + limit <= last
    return Page[Tranlog](
        items=tuple(t for t in sales
                    if t.business_date == business_date and t.store_code == store),
        next_cursor=str(start + limit) if more else None)


def _key(cart: Cart) -> str:
    return f"cart:{cart.tenant_id}:{cart.cart_id}"


def _tranlog_key(tenant: str, cart: Cart) -> str:
    return f"tranlog:{tenant}:{cart.terminal_id}:{cart.transaction_no}"


def _counter_key(tenant: str, terminal: str) -> str:
    return f"txno:{tenant}:{terminal}"


def _event_id(tranlog: Tranlog) -> str:
    return f"tranlog:{tranlog.tenant_id}:{tranlog.terminal_id}:{tranlog.transaction_no}"


async def _open_cart(dapr: DaprClientHelper, tenant: str, cart_id: str) -> Cart:
    cart = await load(dapr, STORE, f"cart:{tenant}:{cart_id}", Cart, "cart")
    return _still_open(cart.model_dump(mode="json"))


def _still_open(current: object) -> Cart:
    if current is None:
        raise ApiError(404, "not_found", "cart not found")
    cart = Cart.model_validate(current)
    if cart.status != "open":
        raise ApiError(409, "already_completed", "the cart is already completed")
    return cart


def build(container: Container | None = None) -> FastAPI:
    """The app; tests pass a container with their overrides."""
    container = container or Container()
    return install_domain_errors(create_app(container, [router], title=APP_ID))


app = build()
