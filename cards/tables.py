"""Tables of card batches and cards."""

from piccolo.columns import BigInt, Bytea, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from agency.tables import Agent
from money.tables import JournalTransaction


class SerialCounter(Table):
    """The next free sequence number per serial prefix; batches take ranges from it atomically."""

    id = Serial(primary_key=True)
    prefix = Varchar(length=8, unique=True)
    next_number = BigInt(default=1)


class CardBatch(Table, tablename="batch"):
    """A batch of cards (R-12): generated all at once, its minutes held in the agent's escrow.
    (Not "card_batch": SQLite would refuse the index card_batch on card.batch beside it.)"""

    id = Serial(primary_key=True)
    agent = ForeignKey(Agent, index=True)
    kind = Varchar(length=16)  # "e-card" or "recharge"
    size = Integer()  # number of cards ("count" would hide Table.count())
    face_minutes = Integer()
    expiry_rule = Varchar(length=24)  # none, fixed_date, days_after_activation, days_after_creation
    expiry_date = Date(null=True, default=None)
    expiry_days = Integer(null=True, default=None)
    prefix = Varchar(length=8)
    first_number = BigInt()
    last_number = BigInt()
    notes = Varchar(length=200, default="")
    status = Varchar(length=16, default="ready")
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    txn = ForeignKey(JournalTransaction, null=True, default=None)
    secrets_exported_at = Timestamptz(null=True, default=None)


class Card(Table):
    """One card. Its secret is stored only as a keyed hash (see cards/codes.py)."""

    id = Serial(primary_key=True)
    batch = ForeignKey(CardBatch, index=True)
    agent = ForeignKey(Agent, index=True)
    serial = Varchar(length=20, unique=True)
    secret_hash = Varchar(length=64)
    status = Varchar(length=16, default="generated", index=True)
    activated_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    redeemed_at = Timestamptz(null=True, default=None)
    redeemed_by = Integer(null=True, default=None)  # the subscriber account


class BatchSecrets(Table):
    """The secrets of a new batch, sealed in parts of up to 10,000 cards (AES-GCM under a key
    derived from the card key, which lives outside the database) until the one export that shows
    them; then the rows are emptied. Nothing else ever holds a secret: cards store only keyed
    hashes."""

    id = Serial(primary_key=True)
    batch = ForeignKey(CardBatch, index=True)
    part = Integer(default=0)
    sealed = Bytea(null=True, default=None)
    created_at = Timestamptz()
    opened_at = Timestamptz(null=True, default=None)
    opened_by = Integer(null=True, default=None)


class CardJob(Table):
    """A large batch being generated in the background. The batch itself is one transaction, so
    a job that dies leaves nothing behind but this row, which then reads as interrupted."""

    id = Serial(primary_key=True)
    agent = ForeignKey(Agent, index=True)
    requested_by = Integer()
    size = Integer()
    status = Varchar(length=16, default="running")  # running, done, failed
    batch = ForeignKey(CardBatch, null=True, default=None)
    error = Varchar(length=200, default="")
    host = Varchar(length=100, default="")
    pid = Integer(default=0)
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
