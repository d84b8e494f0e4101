"""Deterministic demo data for the sandbox: customers, segments, activity and redeemables, in bulk."""

from __future__ import annotations

import random
import unicodedata
from collections import deque
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from django.db import connections, transaction

from sandbox.api import iso, new_id
from sandbox.models import AsyncAction, Customer, CustomerEvent, RedeemableHolder, Segment, SegmentMembership
from sandbox.routers import SANDBOX_DB
from sandbox.services import matches, simple_segment, snapshot

# The history ends at the start of the day of seeding, so a fresh demo looks current ("2 days ago",
# not "a year ago") and a seed stays reproducible within a day.
HISTORY_END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
HISTORY = timedelta(days=3 * 365)
# Customers per transaction.
BATCH = 5000
# Page cache while seeding, in KiB (SQLite's negative cache_size); see _bulk_load_settings.
SEED_CACHE_KIB = -32 * 1024

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

# Rows go in as plain tuples through one prepared single-row INSERT per table (executemany): building
# and saving ~9 model instances per customer through bulk_create cost more than the data itself.
# Columns are listed in full, defaults included, so every row is stored exactly as the ORM stores it.
CUSTOMER_COLUMNS = (
    "id", "source_id", "name", "name_lower", "description", "email", "email_lower", "phone", "birthdate",
    "address", "city_lower", "metadata", "system_metadata", "summary", "loyalty", "referrals", "created_at",
    "updated_at",
)  # fmt: skip
EVENT_COLUMNS = ("id", "customer_id", "type", "category", "campaign_id", "campaign_type", "data", "group_id",
                 "created_at")  # fmt: skip
HOLDER_COLUMNS = ("id", "customer_id", "created_at", "redeemable_id", "redeemable_object", "holder_role",
                  "campaign_id", "campaign_type", "voucher_type", "status", "voucher")  # fmt: skip
MEMBERSHIP_COLUMNS = ("segment_id", "customer_id", "created_at")
# Top-level keys of the customer JSON that the auto-update rules of SEGMENTS read: matching a cheap
# document of just these gives what matching customer_json() would, at a fraction of the cost.
RULE_KEYS = ("address", "metadata")


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _pattern(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def clear() -> None:
    """Empties every sandbox table with plain DELETEs (no per-row cascade collection)."""
    with transaction.atomic(using=SANDBOX_DB), connections[SANDBOX_DB].cursor() as cursor:
        for model in (SegmentMembership, RedeemableHolder, CustomerEvent, Customer, Segment, AsyncAction):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 - table names are ours


def _naive_text(moment: datetime) -> str:
    return str(moment.replace(tzinfo=None))


def _insert_sql(model, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join(["%s"] * len(columns))
    return f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES ({marks})'  # noqa: S608 - names are ours


@contextmanager
def _bulk_load_settings():
    """SQLite settings for one big load, put back afterwards: no fsync and a bigger page cache.

    Without fsync a power cut (not a crashed process) during the seed can break the database file;
    it only holds demo data, so the fix is to delete it and seed again. The cache is bounded
    (32 MiB): memory stays flat however many customers are seeded.
    """
    connection = connections[SANDBOX_DB]
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        synchronous = cursor.fetchone()[0]
        cursor.execute("PRAGMA cache_size")
        cache_size = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute(f"PRAGMA cache_size = {SEED_CACHE_KIB}")
        try:
            yield
        finally:
            cursor.execute(f"PRAGMA synchronous = {int(synchronous)}")
            cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")


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
        read = {path.split(".")[0] for _, rule in SEGMENTS for path in rule or () if path != "junction"}
        if not read <= set(RULE_KEYS):
            raise ValueError(f"segment rules read {read - set(RULE_KEYS)}: add them to RULE_KEYS")
        self.campaigns = [(new_id("camp_", self.rng), *campaign) for campaign in CAMPAIGNS]
        # Duplicate e-mails are picked from the latest 500 addresses; older ones are never needed again.
        self.recent_emails: deque[str] = deque(maxlen=500)
        connection = connections[SANDBOX_DB]
        ops = connection.ops
        self.json, self.date = ops.adapt_json_value, ops.adapt_datefield_value
        # Every moment here is in UTC, which SQLite stores as naive ISO text (what the ORM does, cheaper).
        self.time = _naive_text if connection.vendor == "sqlite" else ops.adapt_datetimefield_value
        self.rows: dict[str, list[tuple]] = {"customers": [], "memberships": [], "events": [], "holders": []}

    def run(self) -> None:
        rng = self.rng
        span_ms = int(HISTORY.total_seconds() * 1000)
        offsets = sorted(rng.sample(range(span_ms), self.count))
        start = HISTORY_END - HISTORY
        with _bulk_load_settings():
            Segment.objects.bulk_create(self.segments)
            for first in range(0, self.count, BATCH):
                for index in range(first, min(first + BATCH, self.count)):
                    self.build(index, start + timedelta(milliseconds=offsets[index]))
                self.flush()

    def flush(self) -> None:
        """Writes the pending rows in one transaction, customers first (the others point at them)."""
        statements = {
            "customers": _insert_sql(Customer, CUSTOMER_COLUMNS),
            "memberships": _insert_sql(SegmentMembership, MEMBERSHIP_COLUMNS),
            "events": _insert_sql(CustomerEvent, EVENT_COLUMNS),
            "holders": _insert_sql(RedeemableHolder, HOLDER_COLUMNS),
        }
        with transaction.atomic(using=SANDBOX_DB), connections[SANDBOX_DB].cursor() as cursor:
            for table, rows in self.rows.items():
                if rows:
                    cursor.executemany(statements[table], rows)
                rows.clear()

    def build(self, index: int, created_at: datetime) -> None:
        """One customer with its memberships, events and redeemables, as pending rows.

        The random draws keep their historical order, so a seed gives the same data as it always has.
        """
        rng, json, db_time = self.rng, self.json, self.time
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, country, dial, postal = rng.choice(CITIES)
        if self.recent_emails and rng.random() < 0.003:
            email = rng.choice(self.recent_emails)  # Voucherify allows duplicate e-mails
        else:
            # Mailboxes are ASCII in practice: "Wójcik" writes as "wojcik".
            plain = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
            local = plain.lower().replace(" ", "").replace("'", "")
            email = f"{local}{rng.randrange(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"
            self.recent_emails.append(email)
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
        customer_id = new_id("cust_", rng)
        name = f"{first} {last}"
        phone = f"{dial} {_pattern(rng, '### ### ###')}" if rng.random() < 0.8 else None
        birthdate = date(1950, 1, 1) + timedelta(days=rng.randrange(20000)) if rng.random() < 0.85 else None
        description = "Imported from the legacy CRM" if rng.random() < 0.1 else None
        holders = self.redeemables(customer_id, created_at)
        summary, loyalty, referrals = self.summary(created_at, holders)
        self.rows["customers"].append(
            (
                customer_id, source_id, name, name.lower(), description, email, email.lower(), phone,
                self.date(birthdate), None if address is None else json(address, None),
                city.lower() if address else None, json(metadata, None), "{}", json(summary, None),
                json(loyalty, None), json(referrals, None), db_time(created_at), db_time(updated_at),
            )
        )  # fmt: skip
        # snapshot() reads just these four attributes; a full Customer instance costs more than the rest.
        customer = snapshot(SimpleNamespace(id=customer_id, source_id=source_id, name=name, email=email))
        events = self.rows["events"]
        events.append(self.event(customer_id, "customer.created", created_at, {"customer": customer}))
        if updated_at > created_at:
            events.append(self.event(customer_id, "customer.updated", updated_at, {"customer": customer}))
        document = {"address": address, "metadata": metadata}
        joined = db_time(created_at)
        entered = created_at + timedelta(milliseconds=1)  # right after customer.created
        for segment in self.segments:
            if matches(segment.filter, document) if segment.filter else rng.random() < 0.05:
                self.rows["memberships"].append((segment.id, customer_id, joined))
                data = {"customer": customer, "segment": simple_segment(segment)}
                events.append(self.event(customer_id, "customer.segment.entered", entered, data))
        for holder in holders:
            voucher = holder["voucher"]
            data = {
                "customer": customer,
                "voucher": {"id": voucher["id"], "code": voucher["code"], "object": "voucher"},
            }
            extra = (holder["campaign_id"], holder["campaign_type"])
            events.append(
                self.event(customer_id, "customer.publication.succeeded", holder["created_at"], data, "ACTION", *extra)
            )
            if holder["status"] in ("USED", "NO_BALANCE") or holder["voucher_type"] == "LOYALTY_CARD":
                moment = _ms(holder["created_at"] + (HISTORY_END - holder["created_at"]) * rng.random())
                events.append(self.event(customer_id, "customer.redemption.succeeded", moment, data, "EFFECT", *extra))
            self.rows["holders"].append(
                (
                    holder["id"], customer_id, db_time(holder["created_at"]), voucher["id"], "voucher",
                    holder["holder_role"], holder["campaign_id"], holder["campaign_type"], holder["voucher_type"],
                    holder["status"], json(voucher, None),
                )
            )  # fmt: skip

    def event(
        self,
        customer_id: str,
        event_type: str,
        moment: datetime,
        data: dict,
        category: str = "ACTION",
        campaign_id: str | None = None,
        campaign_type: str | None = None,
    ) -> tuple:
        return (
            f"evcus_{self.rng.getrandbits(96):024x}", customer_id, event_type, category, campaign_id, campaign_type,
            self.json(data, None), f"v-{self.rng.getrandbits(72):018x}", self.time(moment),
        )  # fmt: skip

    def redeemables(self, customer_id: str, customer_created_at: datetime) -> list[dict]:
        """The customer's vouchers, gift cards and loyalty cards (holder fields and the served voucher)."""
        rng = self.rng
        holders = []
        if rng.random() > 0.75:
            return holders
        for campaign_id, name, campaign_type, voucher_type, prefix in rng.sample(self.campaigns, rng.randint(1, 3)):
            created_at = _ms(customer_created_at + (HISTORY_END - customer_created_at) * rng.random() * 0.5)
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
                "holder_id": customer_id,
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
                {
                    "id": f"rh_{rng.getrandbits(72):018x}",
                    "created_at": created_at,
                    "holder_role": "REFERRER" if campaign_type == "REFERRAL_PROGRAM" else "OWNER",
                    "campaign_id": campaign_id,
                    "campaign_type": campaign_type,
                    "voucher_type": voucher_type,
                    "status": status,
                    "voucher": voucher,
                }
            )
        return holders

    def summary(self, created_at: datetime, holders: list[dict]) -> tuple[dict, dict, dict]:
        """Summary, loyalty and referral figures derived from the customer's redeemables."""
        rng = self.rng
        vouchers = [h["voucher"] for h in holders]
        gifts = [v["gift"] for v in vouchers if "gift" in v]
        cards = [v["loyalty_card"] for v in vouchers if "loyalty_card" in v]
        redeemed = sum(1 for h in holders if h["status"] in ("USED", "NO_BALANCE")) + len(cards)
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
            last = created_at + (HISTORY_END - created_at) * rng.random()
            summary_orders["last_order_date"] = iso(last)
        points = sum(c["balance"] for c in cards)
        summary = {
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
        campaigns = {v["campaign"]: {"points": v["loyalty_card"]["balance"], "referred_customers": 0}
                     for v in vouchers if "loyalty_card" in v}  # fmt: skip
        loyalty = {"points": points, "referred_customers": 0, "campaigns": campaigns}
        return summary, loyalty, {"total": 0, "campaigns": []}


def seed(count: int, *, random_seed: int = 20250101) -> None:
    """Adds ``count`` customers and the segments to an empty sandbox."""
    Seeder(count, random_seed).run()
