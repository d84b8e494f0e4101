"""Deterministic demo data for the sandbox: customers, segments, activity and redeemables, in bulk."""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, date, datetime, timedelta

from django.db import connections, transaction

from sandbox.api import iso, new_id
from sandbox.models import AsyncAction, Customer, CustomerEvent, RedeemableHolder, Segment, SegmentMembership
from sandbox.routers import SANDBOX_DB
from sandbox.services import customer_json, matches, simple_segment, snapshot

# The history ends at the start of the day of seeding, so a fresh demo looks current ("2 days ago",
# not "a year ago") and a seed stays reproducible within a day.
HISTORY_END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
HISTORY = timedelta(days=3 * 365)
BATCH = 2000

FIRST_NAMES = (
    "Anna",
    "Piotr",
    "Maria",
    "Jan",
    "Katarzyna",
    "Tomasz",
    "Agnieszka",
    "Paweł",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Sophia",
    "Lucas",
    "Mia",
    "Elias",
    "Hannah",
    "Felix",
    "Léa",
    "Hugo",
    "Chloé",
    "Louis",
    "Sofia",
    "Mateo",
    "Lucía",
    "Martín",
    "Giulia",
    "Marco",
    "Chiara",
    "Luca",
    "Sara",
    "Erik",
    "Ingrid",
    "Lars",
    "Freya",
    "Oskar",
    "Aoife",
    "Seán",
    "Zoë",
    "Daan",
    "Tess",
    "Bram",
    "Eva",
    "Jakub",
    "Tereza",
    "Ondřej",
    "Ana",
    "João",
)
LAST_NAMES = (
    "Nowak",
    "Kowalski",
    "Wiśniewska",
    "Wójcik",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Wilson",
    "Martin",
    "Bernard",
    "Dubois",
    "Moreau",
    "García",
    "Fernández",
    "López",
    "Martínez",
    "Rossi",
    "Russo",
    "Ferrari",
    "Bianchi",
    "Andersson",
    "Johansson",
    "Larsen",
    "Nielsen",
    "Murphy",
    "Kelly",
    "O'Brien",
    "de Vries",
    "Jansen",
    "Bakker",
    "Novák",
    "Dvořák",
    "Silva",
    "Santos",
    "Costa",
    "Horváth",
    "Kovač",
    "Popescu",
    "Ionescu",
    "Papadopoulos",
    "Yılmaz",
    "Virtanen",
)
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "example.com", "wp.pl")
# (city, state, country, country code for phones, postal code pattern)
CITIES = (
    ("Warsaw", "Mazowieckie", "Poland", "+48", "0#-###"),
    ("Kraków", "Małopolskie", "Poland", "+48", "3#-###"),
    ("Gdańsk", "Pomorskie", "Poland", "+48", "8#-###"),
    ("Wrocław", "Dolnośląskie", "Poland", "+48", "5#-###"),
    ("Poznań", "Wielkopolskie", "Poland", "+48", "6#-###"),
    ("Berlin", "Berlin", "Germany", "+49", "1####"),
    ("Munich", "Bavaria", "Germany", "+49", "8####"),
    ("Hamburg", "Hamburg", "Germany", "+49", "2####"),
    ("Cologne", "North Rhine-Westphalia", "Germany", "+49", "5####"),
    ("Frankfurt", "Hesse", "Germany", "+49", "6####"),
    ("London", "England", "United Kingdom", "+44", "SW1A #AA"),
    ("Manchester", "England", "United Kingdom", "+44", "M# #AB"),
    ("Edinburgh", "Scotland", "United Kingdom", "+44", "EH# #CD"),
    ("Dublin", "Leinster", "Ireland", "+353", "D0#"),
    ("Paris", "Île-de-France", "France", "+33", "750##"),
    ("Lyon", "Auvergne-Rhône-Alpes", "France", "+33", "690##"),
    ("Marseille", "Provence-Alpes-Côte d'Azur", "France", "+33", "130##"),
    ("Madrid", "Community of Madrid", "Spain", "+34", "280##"),
    ("Barcelona", "Catalonia", "Spain", "+34", "080##"),
    ("Valencia", "Valencian Community", "Spain", "+34", "460##"),
    ("Lisbon", "Lisbon", "Portugal", "+351", "1###-###"),
    ("Porto", "Porto", "Portugal", "+351", "4###-###"),
    ("Rome", "Lazio", "Italy", "+39", "001##"),
    ("Milan", "Lombardy", "Italy", "+39", "201##"),
    ("Naples", "Campania", "Italy", "+39", "801##"),
    ("Amsterdam", "North Holland", "Netherlands", "+31", "10## AB"),
    ("Rotterdam", "South Holland", "Netherlands", "+31", "30## CD"),
    ("Brussels", "Brussels", "Belgium", "+32", "1###"),
    ("Vienna", "Vienna", "Austria", "+43", "1###"),
    ("Zurich", "Zurich", "Switzerland", "+41", "80##"),
    ("Prague", "Prague", "Czechia", "+420", "1## ##"),
    ("Brno", "South Moravian", "Czechia", "+420", "6## ##"),
    ("Budapest", "Budapest", "Hungary", "+36", "1###"),
    ("Stockholm", "Stockholm", "Sweden", "+46", "1## ##"),
    ("Copenhagen", "Capital Region", "Denmark", "+45", "1###"),
    ("Oslo", "Oslo", "Norway", "+47", "0###"),
    ("Helsinki", "Uusimaa", "Finland", "+358", "00###"),
    ("New York", "NY", "United States", "+1", "100##"),
    ("Chicago", "IL", "United States", "+1", "606##"),
    ("Toronto", "ON", "Canada", "+1", "M5V #A#"),
)
STREETS = ("Main St", "Market Square", "Oak Avenue", "Station Road", "High Street", "Park Lane", "Rue Verte")
TIERS = ("bronze", "silver", "gold", "platinum")
CHANNELS = ("web", "mobile_app", "store", "partner", "newsletter")

SEGMENTS = (
    ("Warsaw customers", {"address.city": {"conditions": {"$is": "Warsaw"}}}),
    ("Berlin customers", {"address.city": {"conditions": {"$is": "Berlin"}}}),
    ("London customers", {"address.city": {"conditions": {"$is": "London"}}}),
    ("Gold and platinum tier", {"metadata.tier": {"conditions": {"$in": ["gold", "platinum"]}}}),
    ("Marketing opt-in", {"metadata.accepts_marketing": {"conditions": {"$is": True}}}),
    ("High lifetime value", {"metadata.lifetime_value": {"conditions": {"$more_than": 150000}}}),
    ("VIP customers", None),
    ("Beta testers", None),
    ("Black Friday 2024 buyers", None),
    ("Churn risk", None),
    ("Store staff", None),
    ("Newsletter 2023 import", None),
)
# (name, type, voucher type, code prefix)
CAMPAIGNS = (
    ("Welcome 10%", "DISCOUNT_COUPONS", "DISCOUNT_VOUCHER", "WELCOME"),
    ("Summer Promo", "DISCOUNT_COUPONS", "DISCOUNT_VOUCHER", "SUMMER"),
    ("Gift Cards", "GIFT_VOUCHERS", "GIFT_VOUCHER", "GIFT"),
    ("Loyalty Club", "LOYALTY_PROGRAM", "LOYALTY_CARD", "LOYAL"),
    ("Refer a Friend", "REFERRAL_PROGRAM", "DISCOUNT_VOUCHER", "REF"),
)


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _pattern(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def clear() -> None:
    """Empties every sandbox table with plain DELETEs (no per-row cascade collection)."""
    with transaction.atomic(using=SANDBOX_DB), connections[SANDBOX_DB].cursor() as cursor:
        for model in (SegmentMembership, RedeemableHolder, CustomerEvent, Customer, Segment, AsyncAction):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 - table names are ours


class Seeder:
    """Builds and bulk-inserts ``count`` customers with everything around them."""

    def __init__(self, count: int, random_seed: int):
        self.count = count
        self.rng = random.Random(random_seed)
        start = HISTORY_END - HISTORY
        self.segments = [
            Segment(
                id=new_id("seg_", self.rng),
                name=name,
                type=Segment.AUTO_UPDATE if rule else Segment.STATIC,
                filter=rule,
                created_at=_ms(start - timedelta(days=30 - i)),
                updated_at=_ms(start - timedelta(days=30 - i)),
            )
            for i, (name, rule) in enumerate(SEGMENTS)
        ]
        self.campaigns = [(new_id("camp_", self.rng), *campaign) for campaign in CAMPAIGNS]
        self.emails: list[str] = []

    def run(self) -> None:
        rng = self.rng
        Segment.objects.bulk_create(self.segments)
        span_ms = int(HISTORY.total_seconds() * 1000)
        offsets = sorted(rng.sample(range(span_ms), self.count))
        start = HISTORY_END - HISTORY
        pending: dict[type, list] = {Customer: [], SegmentMembership: [], CustomerEvent: [], RedeemableHolder: []}
        for first in range(0, self.count, BATCH):
            for index in range(first, min(first + BATCH, self.count)):
                customer, memberships, events, holders = self.build(
                    index, start + timedelta(milliseconds=offsets[index])
                )
                pending[Customer].append(customer)
                pending[SegmentMembership] += memberships
                pending[CustomerEvent] += events
                pending[RedeemableHolder] += holders
            self.flush(pending, final=first + BATCH >= self.count)

    @staticmethod
    def flush(pending: dict[type, list], *, final: bool) -> None:
        """Inserts the pending rows in chunks of exactly ``BATCH`` (the rest waits unless ``final``).

        Equal-sized inserts reuse one prepared statement; a different row count each time would fill
        sqlite3's statement cache with huge statements (about a gigabyte at 100,000 customers).
        """
        with transaction.atomic(using=SANDBOX_DB):
            for model, rows in pending.items():
                cut = len(rows) if final else len(rows) - len(rows) % BATCH
                for chunk in range(0, cut, BATCH):
                    model.objects.bulk_create(rows[chunk : chunk + BATCH])
                del rows[:cut]

    def build(self, index: int, created_at: datetime):
        """One customer with its memberships, events and redeemables."""
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, country, dial, postal = rng.choice(CITIES)
        if self.emails and rng.random() < 0.003:
            email = rng.choice(self.emails[-500:])  # Voucherify allows duplicate e-mails
        else:
            # Mailboxes are ASCII in practice: "Wójcik" writes as "wojcik".
            plain = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
            local = plain.lower().replace(" ", "").replace("'", "")
            email = f"{local}{rng.randrange(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"
            self.emails.append(email)
        source_id = email if rng.random() < 0.02 else f"CRM-{index + 1:07d}"
        if rng.random() < 0.005:
            source_id = f"legacy/{first} {last}?ref=#{index}&q=a+b"
        updated_at = created_at
        if rng.random() < 0.6:
            updated_at = _ms(created_at + (HISTORY_END - created_at) * rng.random())
        metadata: dict = {
            "tier": rng.choices(TIERS, weights=(50, 30, 15, 5))[0],
            "lifetime_value": rng.randrange(0, 250000),
            "accepts_marketing": rng.random() < 0.55,
            "signup_channel": rng.choice(CHANNELS),
            "nps_score": round(rng.uniform(0, 10), 1),
        }
        if rng.random() < 0.05:
            metadata["preferences"] = {"language": rng.choice(("en", "pl", "de", "fr")), "newsletter": True}
        address = None
        if rng.random() < 0.92:
            address = {
                "city": city,
                "state": state,
                "line_1": f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
                "country": country,
                "postal_code": _pattern(rng, postal),
            }
            if rng.random() < 0.2:
                address["line_2"] = f"Apt {rng.randrange(1, 80)}"
        customer = Customer(
            id=new_id("cust_", rng),
            source_id=source_id,
            name=f"{first} {last}",
            name_lower=f"{first} {last}".lower(),
            email=email,
            email_lower=email.lower(),
            phone=f"{dial} {_pattern(rng, '### ### ###')}" if rng.random() < 0.8 else None,
            birthdate=date(1950, 1, 1) + timedelta(days=rng.randrange(20000)) if rng.random() < 0.85 else None,
            address=address,
            city_lower=city.lower() if address else None,
            metadata=metadata,
            description="Imported from the legacy CRM" if rng.random() < 0.1 else None,
            created_at=created_at,
            updated_at=updated_at,
        )
        holders = self.redeemables(customer)
        self.fill_summary(customer, holders)
        events = [self.event(customer, "customer.created", created_at, {"customer": snapshot(customer)})]
        if updated_at > created_at:
            events.append(self.event(customer, "customer.updated", updated_at, {"customer": snapshot(customer)}))
        memberships = []
        document = customer_json(customer)
        for segment in self.segments:
            member = matches(segment.filter, document) if segment.filter else rng.random() < 0.05
            if member:
                memberships.append(SegmentMembership(segment=segment, customer=customer, created_at=created_at))
                data = {"customer": snapshot(customer), "segment": simple_segment(segment)}
                entered = created_at + timedelta(milliseconds=1)  # right after customer.created
                events.append(self.event(customer, "customer.segment.entered", entered, data))
        for holder in holders:
            voucher = {"id": holder.redeemable_id, "code": holder.voucher["code"], "object": "voucher"}
            data = {"customer": snapshot(customer), "voucher": voucher}
            extra = {"campaign_id": holder.campaign_id, "campaign_type": holder.campaign_type}
            events.append(self.event(customer, "customer.publication.succeeded", holder.created_at, data, **extra))
            if holder.status in ("USED", "NO_BALANCE") or holder.voucher_type == "LOYALTY_CARD":
                moment = _ms(holder.created_at + (HISTORY_END - holder.created_at) * rng.random())
                events.append(
                    self.event(customer, "customer.redemption.succeeded", moment, data, category="EFFECT", **extra)
                )
        return customer, memberships, events, holders

    def event(self, customer: Customer, event_type: str, moment: datetime, data: dict, **extra) -> CustomerEvent:
        return CustomerEvent(
            id=f"evcus_{self.rng.getrandbits(96):024x}",
            customer_id=customer.id,
            type=event_type,
            data=data,
            group_id=f"v-{self.rng.getrandbits(72):018x}",
            created_at=moment,
            **extra,
        )

    def redeemables(self, customer: Customer) -> list[RedeemableHolder]:
        rng = self.rng
        holders = []
        if rng.random() > 0.75:
            return holders
        for campaign_id, name, campaign_type, voucher_type, prefix in rng.sample(self.campaigns, rng.randint(1, 3)):
            created_at = _ms(customer.created_at + (HISTORY_END - customer.created_at) * rng.random() * 0.5)
            voucher = {
                "id": new_id("v_", rng),
                "code": f"{prefix}-{''.join(rng.choices('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', k=8))}",
                "campaign": name,
                "campaign_id": campaign_id,
                "category": None,
                "type": voucher_type,
                "active": True,
                "is_referral_code": campaign_type == "REFERRAL_PROGRAM",
                "metadata": {},
                "holder_id": customer.id,
                "created_at": iso(created_at),
                "object": "voucher",
            }
            status = "ACTIVE"
            if voucher_type == "GIFT_VOUCHER":
                amount = rng.choice((2500, 5000, 10000, 20000))
                balance = rng.choice((amount, amount // 2, 0))
                voucher["gift"] = {"amount": amount, "balance": balance, "effect": "APPLY_TO_ORDER"}
                status = "NO_BALANCE" if balance == 0 else "ACTIVE"
            elif voucher_type == "LOYALTY_CARD":
                points = rng.randrange(100, 5000)
                voucher["loyalty_card"] = {"points": points, "balance": rng.randrange(0, points)}
            else:
                voucher["discount"] = {"type": "PERCENT", "percent_off": rng.choice((5, 10, 15, 20))}
                status = rng.choices(("ACTIVE", "USED", "EXPIRED"), weights=(70, 20, 10))[0]
            holders.append(
                RedeemableHolder(
                    id=f"rh_{rng.getrandbits(72):018x}",
                    customer=customer,
                    created_at=created_at,
                    redeemable_id=voucher["id"],
                    holder_role="REFERRER" if campaign_type == "REFERRAL_PROGRAM" else "OWNER",
                    campaign_id=campaign_id,
                    campaign_type=campaign_type,
                    voucher_type=voucher_type,
                    status=status,
                    voucher=voucher,
                )
            )
        return holders

    def fill_summary(self, customer: Customer, holders: list[RedeemableHolder]) -> None:
        """Summary and loyalty figures derived from the customer's redeemables."""
        rng = self.rng
        gifts = [h.voucher["gift"] for h in holders if "gift" in h.voucher]
        cards = [h.voucher["loyalty_card"] for h in holders if "loyalty_card" in h.voucher]
        redeemed = sum(1 for h in holders if h.status in ("USED", "NO_BALANCE")) + len(cards)
        failed = 1 if redeemed and rng.random() < 0.1 else 0
        orders = rng.randrange(0, 25) if redeemed else rng.randrange(0, 5)
        amounts = [rng.randrange(1000, 40000) for _ in range(orders)]
        summary_orders = {
            "total_amount": sum(amounts),
            "total_count": orders,
            "average_amount": sum(amounts) // orders if orders else 0,
            "last_order_amount": amounts[-1] if amounts else 0,
        }
        if orders:
            last = customer.created_at + (HISTORY_END - customer.created_at) * rng.random()
            summary_orders["last_order_date"] = iso(last)
        points = sum(c["balance"] for c in cards)
        customer.summary = {
            "redemptions": {
                "total_redeemed": redeemed + failed,
                "total_failed": failed,
                "total_succeeded": redeemed,
                "total_rolled_back": 0,
                "total_rollback_failed": 0,
                "total_rollback_succeeded": 0,
                "gift": {
                    "redeemed_amount": sum(g["amount"] - g["balance"] for g in gifts),
                    "amount_to_go": sum(g["balance"] for g in gifts),
                },
                "loyalty_card": {
                    "redeemed_points": sum(c["points"] - c["balance"] for c in cards),
                    "points_to_go": points,
                },
            },
            "orders": summary_orders,
        }
        campaigns = {
            h.voucher["campaign"]: {"points": h.voucher["loyalty_card"]["balance"], "referred_customers": 0}
            for h in holders
            if "loyalty_card" in h.voucher
        }
        customer.loyalty = {"points": points, "referred_customers": 0, "campaigns": campaigns}
        customer.referrals = {"total": 0, "campaigns": []}


def seed(count: int, *, random_seed: int = 20250101) -> None:
    """Adds ``count`` customers and the segments to an empty sandbox."""
    Seeder(count, random_seed).run()
