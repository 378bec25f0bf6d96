"""The customer information base (顾客信息库): who each customer is and what happened to them."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from guanxi.core.crypto import EncryptedTextField
from guanxi.core.db.indexes import OpClass, ShortGramIndex, TrigramIndex


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("colour"), max_length=7, default="#607d8b")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomAttribute(models.Model):
    """A field the admin adds to every customer (e.g. 'shoe size'), typed and validated."""

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        INTEGER = "integer", _("Whole number")
        DECIMAL = "decimal", _("Decimal number")
        DATE = "date", _("Date")
        BOOLEAN = "boolean", _("Yes/no")
        CHOICE = "choice", _("Choice")

    key = models.SlugField(_("key"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    min_value = models.DecimalField(_("minimum"), max_digits=14, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(_("maximum"), max_digits=14, decimal_places=4, null=True, blank=True)
    max_length = models.PositiveIntegerField(_("maximum length"), default=200)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("custom attribute")
        verbose_name_plural = _("custom attributes")
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.label


class CustomerQuerySet(models.QuerySet["Customer"]):
    def visible_to(self, user) -> CustomerQuerySet:
        """The one rule for which customers a staff member may see: those of their stores.

        Every list, search, detail, export and API read of customers goes through here.
        Merged-away records are hidden; their survivor carries their history.
        """
        qs = self.filter(merged_into__isnull=True)
        if user is None or not user.is_authenticated or not user.is_active:
            return qs.none()
        if user.sees_all_stores:
            return qs
        from guanxi.accounts.models import User

        store_ids = User.stores.through.objects.filter(user_id=user.pk).values("store_id")
        return qs.filter(Q(home_store_id__in=store_ids) | Q(owner_id=user.pk))


class Customer(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        ORGANISATION = "organisation", _("Organisation")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")

    class IncomeBand(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        LOW = "low", _("Under ¥5,000 a month")
        MIDDLE = "middle", _("¥5,000–15,000 a month")
        UPPER = "upper", _("¥15,000–40,000 a month")
        HIGH = "high", _("Over ¥40,000 a month")

    class Education(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        SECONDARY = "secondary", _("Secondary school")
        VOCATIONAL = "vocational", _("Vocational college")
        BACHELOR = "bachelor", _("Bachelor's degree")
        POSTGRADUATE = "postgraduate", _("Postgraduate")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=120)
    gender = models.CharField(_("gender"), max_length=8, choices=Gender.choices, blank=True, default="")
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    birthday_md = models.PositiveSmallIntegerField(
        _("birthday month-day"), null=True, blank=True, editable=False, help_text="month*100+day, for 'today' lookups"
    )
    birthday_is_lunar = models.BooleanField(
        _("lunar birthday"),
        default=False,
        db_default=False,  # rows written by COPY (bench, bulk loads) that leave the column out
        help_text=_("Celebrated on the lunar (农历) anniversary of the birthday."),
    )
    birthday_lunar_md = models.PositiveSmallIntegerField(
        _("lunar birthday month-day"),
        null=True,
        blank=True,
        editable=False,
        help_text="lunar month*100+day of a lunar birthday (leap months as the plain month), for 'today' lookups",
    )
    occupation = models.CharField(_("occupation"), max_length=64, blank=True)
    income_band = models.CharField(_("income band"), max_length=8, choices=IncomeBand.choices, blank=True)
    education = models.CharField(_("education"), max_length=16, choices=Education.choices, blank=True)
    family_size = models.PositiveSmallIntegerField(
        _("family size"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    region = models.CharField(_("region"), max_length=64, blank=True)
    organisation_name = models.CharField(_("organisation"), max_length=120, blank=True)
    id_number = EncryptedTextField(_("ID number"), blank=True, default="")
    id_number_index = models.CharField(max_length=32, blank=True, default="", editable=False)
    interests = models.JSONField(_("interests"), default=list, blank=True)
    preferences = models.JSONField(_("preferences"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    is_key_account = models.BooleanField(_("key account"), default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        db_index=False,  # cust_owner: only the customers that have one
    )
    source = models.CharField(_("source"), max_length=32, blank=True)
    home_store = models.ForeignKey(
        "accounts.Store",
        verbose_name=_("home store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,  # cust_store_recent leads with it
    )
    custom_attributes = models.JSONField(_("custom attributes"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # cust_merged_into: only the merged-away
    )
    first_order_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spent = models.DecimalField(_("total spent"), max_digits=14, decimal_places=2, default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["home_store", "-id"], name="cust_store_recent"),
            models.Index(fields=["birthday_md"], name="cust_birthday_md"),
            models.Index(
                fields=["birthday_lunar_md"],
                name="cust_birthday_lunar_md",
                condition=Q(birthday_lunar_md__isnull=False),
            ),
            models.Index(fields=["last_order_at"], name="cust_last_order"),
            models.Index(fields=["name"], name="cust_name"),
            # Columns most rows leave empty are indexed for the rows that fill them, so the million rows
            # of an import do not each add an entry nobody looks up.
            models.Index(fields=["owner"], name="cust_owner", condition=Q(owner__isnull=False)),
            models.Index(fields=["merged_into"], name="cust_merged_into", condition=Q(merged_into__isnull=False)),
            models.Index(fields=["id_number_index"], name="cust_id_number", condition=~Q(id_number_index="")),
            # name search (icontains) at 1M customers: GIN trigram lookup instead of a table scan
            TrigramIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="cust_name_trgm"),
            # one- and two-character queries (no trigram): GIN on every 1- and 2-character substring
            ShortGramIndex(Upper("name"), name="cust_name_grams"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(family_size__isnull=True) | Q(family_size__gte=1, family_size__lte=30),
                name="cust_family_size_range",
                violation_error_message=_("A family has 1 to 30 people."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ContactPoint(models.Model):
    """A way to reach a customer. The value is encrypted; the indexes are keyed digests."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("E-mail")
        WECHAT = "wechat", _("WeChat")
        ADDRESS = "address", _("Address")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    value = EncryptedTextField(_("value"))
    value_index = models.CharField(max_length=32, blank=True, default="", editable=False)
    last4_index = models.CharField(max_length=32, blank=True, default="", editable=False)
    label = models.CharField(_("label"), max_length=32, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)
    #: This phone or e-mail is the identity a customer was created (or imported) under: at most one
    #: contact holds each identity, which is what keeps two simultaneous creates from making twins.
    #: Twins made on purpose (``force_new``) and contacts added later do not claim it.
    is_identity = models.BooleanField(default=False, db_default=False, editable=False)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        indexes = [
            models.Index(fields=["value_index"], name="contact_value_idx"),
            models.Index(fields=["last4_index"], name="contact_last4_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind"], condition=Q(is_primary=True), name="contact_one_primary_per_kind"
            ),
            models.UniqueConstraint(
                fields=["kind", "value_index"], condition=Q(is_identity=True), name="contact_one_identity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class ImportantDate(models.Model):
    class Kind(models.TextChoices):
        WEDDING_ANNIVERSARY = "wedding_anniversary", _("Wedding anniversary")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="important_dates")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices, default=Kind.OTHER)
    label = models.CharField(_("label"), max_length=64, blank=True)
    date = models.DateField(_("date"))
    month_day = models.PositiveSmallIntegerField(editable=False, db_index=True)

    class Meta:
        verbose_name = _("important date")
        verbose_name_plural = _("important dates")
        ordering = ["month_day"]

    def save(self, *args, **kwargs):
        self.month_day = self.date.month * 100 + self.date.day
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.label or self.get_kind_display()


class Note(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-created_at"]


class TimelineEntry(models.Model):
    """One line of the customer's story, as the 360 view shows it; written with the change."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="timeline", db_index=False
    )  # timeline_customer_recent leads with it
    kind = models.CharField(_("kind"), max_length=40)
    occurred_at = models.DateTimeField(_("occurred at"))
    summary = models.CharField(_("summary"), max_length=255)
    data = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_id = models.BigIntegerField(null=True, blank=True)
    ref_type = models.CharField(max_length=40, blank=True)
    ref_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline")
        indexes = [models.Index(fields=["customer", "-occurred_at", "-id"], name="timeline_customer_recent")]


class CustomerMerge(models.Model):
    """The record that two customers became one, kept so the merge stays visible and explainable."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merged_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    moved = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")


class ImportJob(models.Model):
    """A file being imported: the mapping, the dry-run verdict and live progress for the UI."""

    class Target(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        ORDERS = "orders", _("Orders")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        VALIDATING = "validating", _("Checking")
        VALIDATED = "validated", _("Checked")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    target = models.CharField(_("target"), max_length=16, choices=Target.choices, default=Target.CUSTOMERS)
    file = models.CharField(_("file"), max_length=500)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    dry_run = models.BooleanField(_("dry run"), default=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    matched_count = models.PositiveIntegerField(_("matched existing"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    rejected_file = models.CharField(_("rejected rows file"), max_length=500, blank=True)
    error = models.TextField(_("error"), blank=True)
    file_sha256 = models.CharField(_("file checksum"), max_length=64, blank=True, db_index=True)
    #: Real runs: every row up to this line of the file is written, committed with those rows, so a
    #: run that was interrupted resumes after it and never writes a row twice.
    committed_line = models.PositiveIntegerField(_("committed up to line"), default=0)
    resumed_at_line = models.PositiveIntegerField(_("resumed after line"), null=True, blank=True)
    resume_count = models.PositiveSmallIntegerField(_("resumed"), default=0)
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life: every save (queued, started, finished) and every progress tick. A job waiting or
    # running without one for GUANXI_IMPORT_STALE_SECONDS is taken up by ``import_jobs_reap_stale``.
    heartbeat_at = models.DateTimeField(_("last progress"), auto_now=True, null=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-id"]

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class DismissedDuplicate(models.Model):
    """A pair of customers staff checked and found to be two people: never listed as duplicates again.

    Stored once per pair, lower id first, so the duplicates query excludes it with one indexed lookup.
    """

    first = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reasons = models.JSONField(_("what matched"), default=list, blank=True)
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    dismissed_at = models.DateTimeField(_("dismissed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("dismissed duplicate")
        verbose_name_plural = _("dismissed duplicates")
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="customers_dismissed_pair_once"),
            models.CheckConstraint(
                condition=models.Q(first__lt=models.F("second")), name="customers_dismissed_ordered"
            ),
        ]
