"""What a customer's reply says, read on the server: deterministic, in Spanish and
English, without any outside service.

``classify(text, lang, today)`` returns ``{"kind", "date", "amount", "reason"}``:

- ``kind``: ``promise`` (will pay), ``dispute`` (contests the invoice), ``paid`` (says it
  paid), ``invoice_copy`` (asks for the invoice or a statement), ``opt_out`` (asks not to
  be written to any more) or ``other``;
- ``date``: the day promised (a ``datetime.date``, promises only), relative phrasings
  ("el viernes", "next Tuesday", "a fin de mes", "el 15") resolved against ``today``
  with ``dateparser`` in the customer's language;
- ``amount``: the amount promised or paid, read in both notations (1.234,56 and
  1,234.56, with or without a currency sign);
- ``reason``: for a dispute, the code of the shipped dispute reason it gives
  (``wrong_price``, ``not_received``, ``damaged``, ``returned``, ``not_ordered``,
  ``duplicate``), or False.

The rules are patterns over the text without accents and in lower case, tried in a
fixed order (opt-out, dispute, invoice copy, paid, promise): the same text always gets
the same answer. The corpus ``tests/data/replies_corpus.csv`` measures them
(``dev/reply-benchmark``).
"""

import calendar
import re
import unicodedata
from datetime import date, datetime, timedelta

KINDS = ("promise", "dispute", "paid", "invoice_copy", "opt_out", "other")


def _any(*patterns):
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Written words of a message, in lower case and without accents.
PAY = r"(?:pag|abon|ingres|liquid|sald)"
SPANISH_PAY_VERB = (
    PAY + r"(?:o|as|a|amos|ais|an|ar|are|aras|ara|aremos|areis|aran|aria|ariamos|arla|arlo"
    r"|arle|arles|arte)\b"
    r"|\btransfer(?:ir|ire|iremos|ira|iran|imos)\b|\btransfier[eo]n?\b"
    r"|\b(?:hac|har|realiz|efectu|mand|envi|hag)\w*\s+(?:el|la|un|una|los)?\s*"
    r"(?:pago|transferencia|ingreso|bizum)"
)
ENGLISH_PAY_WORD = (
    r"\b(?:pay|paying|payment|transfer|transferred|wire|wired|send|sent|remit|settle|"
    r"settled|mailed|mail|check|cheque|funds|money)\b"
)

OPT_OUT = _any(
    r"^\W*(?:please |por favor )?(?:stop|stop\s*all|baja|unsubscribe|opt[\s-]?out|cancel|end|quit)"
    r"(?: please| por favor)?\W*$",
    r"\bno me (?:\w+ )?(?:escrib|mand|envi|contact|llam|molest)\w* mas\b",
    r"\bdej(?:en|ad|a|e) de (?:escribir|mandar|enviar|contactar|molestar)",
    r"\bdar(?:me|nos)? de baja\b",
    r"\bno (?:quiero|queremos) recibir\b",
    r"\bno (?:vuelvan|volvais|vuelvas) a (?:contactar|escribir|llamar)",
    r"\bborr(?:en|ad|a) (?:mi|nuestro) (?:numero|correo|email|telefono)",
    r"\bstop (?:texting|messaging|sending|contacting|writing|emailing|calling)",
    r"\b(?:do not|don't|dont) (?:contact|message|text|email|write to|call) (?:me|us)",
    r"\bremove (?:me|us|my number)\b",
    r"\bunsubscribe\b",
    r"\b(?:do not|don't|dont) want (?:to receive|these|your)",
    r"\bdelete my (?:number|email|phone)",
)

NEGATION = (
    r"\b(?:no|nunca|todavia no|aun no|never|not|haven't|havent|hasn't|hasnt|didn't|didnt|"
    r"did not|has not|have not)\b"
)
INVOICE_WORD = re.compile(r"\b(?:factur\w*|invoice\w*|extracto|statement|email|correo|mail)\b")
NOT_RECEIVED = re.compile(
    NEGATION + r"[^.;]{0,30}?\b(?:recib\w*|llegad\w*|llego|llegaron|entreg\w*|receiv\w*|"
    r"arriv\w*|deliver\w*|got)\b"
)

DISPUTE_REASONS = [
    (
        "not_ordered",
        _any(
            r"\bno (?:lo |los |la |las )?(?:hemos |he |habiamos )?(?:pedido|pedimos|encargado|"
            r"encargamos|solicitado|solicitamos)\b",
            r"\bno (?:hicimos|hemos hecho|realizamos) (?:ese|este|ningun|el) pedido",
            r"\bno (?:reconocemos|reconozco)\b",
            r"\bnunca (?:lo |los )?(?:pedimos|encargamos)\b",
            r"\b(?:did not|didn't|didnt|never|not) order",
            r"\b(?:don't|dont|do not) recogni[sz]e\b",
        ),
    ),
    (
        "returned",
        _any(
            r"\b(?:devolvimos|devolvi|devuelt[oa]s?|devolucion|devolverlo)\b",
            r"\breturned\b",
            r"\bsent (?:it |them |everything |the goods |all )?back\b",
        ),
    ),
    (
        "damaged",
        _any(
            r"\b(?:rot[oa]s?|danad[oa]s?|defectuos[oa]s?|estropead[oa]s?|averiad[oa]s?)\b",
            r"\bmal estado\b",
            r"\bno funciona\b",
            r"\b(?:damaged|broken|defective|faulty)\b",
            r"\b(?:doesn't|does not|dont|don't) work\b",
        ),
    ),
    (
        "duplicate",
        _any(
            r"\bfactur\w* (?:esta |estan |es )?(?:duplicad|repetid)",
            r"\b(?:dos veces|twice)\b",
            r"\bis a duplicate\b",
            r"\bduplicate (?:invoice|charge|billing)",
        ),
    ),
    (
        "wrong_price",
        _any(
            r"\b(?:importe|precio|cantidad|total|amount|price)\b[^.;]{0,40}?"
            r"(?:incorrect\w*|erroneo|equivocad\w*|\bmal\b|no es correcto|no coincide|wrong|"
            r"not correct|too high)",
            r"\b(?:error|mal|wrong)\b[^.;]{0,20}?\b(?:importe|precio|amount|price)\b",
            r"\bcobra\w* de mas\b",
            r"\bmal facturad",
            r"\bno estamos de acuerdo con el precio",
            r"\bovercharg",
            r"\bcharged (?:us |me )?too much",
            r"\bbilled at the wrong",
        ),
    ),
]
DISPUTE_GENERIC = _any(
    r"\bno (?:estamos|estoy) (?:de acuerdo|conformes?)\b",
    r"\breclamacion\b",
    r"\bno (?:pienso|pensamos|vamos a|voy a) pagar",
    r"\bno pagaremos\b",
    r"\bproblema con (?:la|esta|esa) factura",
    r"\bdisput\w*",
    r"\b(?:don't|do not|dont) agree\b|\bdisagree\b",
    r"\bproblem with (?:the|this|your) invoice",
    r"\brefuse to pay\b",
    r"\bcomplaint\b",
    r"\b(?:won't|will not|wont) pay\b",
)

INVOICE_COPY = _any(
    r"\b(?:copia|copias|duplicado)\b[^.;?]{0,25}?\bfactur",
    r"\b(?:envi|mand|reenvi|pas|remit)\w*\b[^.;?]{0,25}?\b(?:factura|facturas|extracto|"
    r"estado de cuenta|detalle)\b",
    r"\b(?:no encuentro|necesito|no tengo|quisiera|me falta)\b[^.;?]{0,10}?\bfactur",
    r"\b(?:extracto|estado de cuenta)\b",
    r"\bque facturas\b",
    r"\bcop(?:y|ies)\b[^.;?]{0,25}?\binvoice",
    r"\b(?:send|resend|re-send|email|e-mail|forward)\b[^.;?]{0,25}?\b(?:invoice|invoices|"
    r"statement|details)\b",
    r"\b(?:can't|cant|cannot|can not) find the invoice",
    r"\b(?:need|don't have|dont have|do not have|haven't got)\b[^.;?]{0,10}?\binvoice",
    r"\bstatement of account\b",
    r"\bwhich invoices\b",
)

PAID_STRONG = _any(
    r"\bya\b[^.;?]{0,25}?\b(?:" + PAY + r"|transfer|hic|hech|realiz)\w*",
    r"\b(?:he|hemos|ha|han|habia|habiamos)\s+(?:ya\s+)?(?:pagado|abonado|ingresado|transferido|"
    r"realizado|hecho|enviado|mandado|liquidado)\b",
    r"\b(?:justificante|comprobante)\b",
    r"\b(?:pago|transferencia|ingreso) (?:realizad|efectuad|hech)[oa]\b",
    r"\bse (?:hizo|realizo|efectuo)\b",
    r"\b(?:hice|hicimos|realice|efectue)\b[^.;?]{0,20}?\b(?:pago|transferencia|ingreso)\b",
    r"\balready\b[^.;?]{0,15}?\b(?:paid|payed|sent|settled|transferred|wired|pay)\b",
    r"\b(?:have|has|had|'ve|ve)\s+(?:already\s+)?(?:been\s+)?(?:paid|payed|sent|settled|"
    r"transferred|wired|made|mailed)\b",
    r"\b(?:was|were)\s+(?:already\s+)?(?:made|sent|paid|wired|transferred|settled|mailed)\b",
    r"\b(?:remittance|proof of payment|receipt)\b",
    r"\bpaid in full\b",
    r"\bpayment (?:made|sent|done|completed)\b",
    r"\b(?:check|cheque|payment) (?:is |was )?in the (?:mail|post)\b",
)
# Saying one cannot pay promises nothing.
CANNOT_PAY = _any(
    r"\bno (?:podemos|puedo|podre|podremos|vamos a poder) (?:pagar|abonar|hacer el pago)",
    r"\b(?:can't|cant|cannot|can not|won't be able to|unable to) pay\b",
)
PAST = _any(
    r"\bayer\b",
    r"\b(?:pasad[oa])\b(?! manana)",
    r"\bhace (?:\w+ )?(?:dias|semanas|un mes|meses|una semana|poco)\b",
    r"\byesterday\b",
    r"\blast (?:week|month|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    r"\bago\b",
    r"\bthis morning\b",
)
FUTURE = _any(
    r"\b(?<!esta )manana\b",
    r"\bproxim[oa]\b|\bque viene\b|\bsiguiente\b",
    r"\b(?:fin|final|finales) de(?:l)? mes\b",
    r"\ben (?:\d+|un|una|dos|tres|cuatro|cinco|unos|unas) (?:dias|semanas|semana)\b",
    r"\best[ae] (?:semana|lunes|martes|miercoles|jueves|viernes|sabado|mes)\b",
    PAY + r"(?:are|aremos|ara|aran|areis|aria|ariamos)\b",
    r"\btransferir(?:e|emos|a|an)\b|\bhar(?:e|emos|a|an)\b|\brealizar(?:e|emos|a|an)\b",
    r"\b(?:voy|vamos|van) a\b|\b(?:puedo|podemos|podriamos|podre|podremos|intentaremos)\b",
    r"\bpronto\b|\ben breve\b|\blo antes posible\b|\ben cuanto\b",
    r"\b(?:will|shall|going to|gonna|intend|plan|can|could|should|promise|expect|scheduled)\b",
    r"'ll\b|\bill\b",
    r"\b(?:tomorrow|tmrw|tomorow|next|soon|asap|as soon as|paying)\b",
    r"\bend of\b|\bmonth[\s-]end\b",
    r"\bin (?:\d+|a|two|three|four|five|a few) (?:days|weeks|week)\b",
)
PROMISE_IDIOM = _any(
    r"\b(?:queda|quedara|estara|tienen|tendran|tendreis)\b[^.;?]{0,10}?\b(?:pagad|abonad)",
)
PAID_WEAK = _any(
    r"\b(?:pagad[oa]s?|pagao|abonad[oa]s?|ingresad[oa]s?|transferid[oa]s?|pague)\b",
    r"\b(?:paid|payed|sent|wired|transferred|settled|mailed)\b",
    r"\b(?:pagamos|pago|ingresamos|abonamos|transferimos|realizamos)\b"
    r"(?=[^.;?]*" + PAST.pattern + ")",
)
PROMISE = _any(SPANISH_PAY_VERB, r"\bpago\b", ENGLISH_PAY_WORD)
# Without a word about when, only a verb of paying promises ("pay", not "check").
PAY_VERB = _any(SPANISH_PAY_VERB, r"\b(?:pay|paying|transfer|wire|remit|settle)\b")

# A few spellings fixed before reading dates (the date parser knows the words only).
TYPOS = [
    (re.compile(r"\bm(?:ñ|n)ana\b"), "manana"),
    (re.compile(r"\b(?:tmrw|tmr|tomorow|tomorrrow|tommorow|tommorrow)\b"), "tomorrow"),
    (re.compile(r"\bq viene\b"), "que viene"),
    (re.compile(r"\bfri\b"), "friday"),
    (re.compile(r"\bmon\b"), "monday"),
    # "el día 3 de abril": the parser reads "3 de abril".
    (re.compile(r"\bdia (\d{1,2} de )"), r"\1"),
]
# Counts the date parser reads as digits only ("en dos semanas").
NUMBER_WORDS = {
    "un": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "diez": 10,
    "quince": 15,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "ten": 10,
    "fifteen": 15,
}
COUNT = re.compile(
    r"\b(" + "|".join(NUMBER_WORDS) + r")\s+(dias|semanas|meses|days|weeks|months)\b"
)
# Periods too vague to be the day promised when a day is named besides.
VAGUE = re.compile(r"^(?:esta semana|this week|este mes|this month)$")

MONTHS = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|"
    r"noviembre|diciembre|january|february|march|april|may|june|july|august|september|"
    r"october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
DAY_AFTER_TOMORROW = re.compile(r"\bpasado manana\b|\bday after tomorrow\b")
END_OF_MONTH = re.compile(
    r"\b(?:fin|final|finales) de(?:l)? mes\b|\bend of (?:the |this )?month\b|\bmonth[\s-]end\b"
)
NEXT_WEEK = re.compile(r"\b(?:la )?semana que viene\b|\bproxima semana\b|\bnext week\b")
# "el 15", "el día 15", "on the 15th", "the 1st": a day of the month without a month.
DAY_OF_MONTH = re.compile(
    r"\b(?:el (?:dia )?|dia |(?:on |by )?the )(\d{1,2})(?:st|nd|rd|th)?\b"
    r"(?!\s*(?:/|-|\.\d|de " + MONTHS + r"|of " + MONTHS + r"|" + MONTHS + r"|dias|days|h\b|:))"
)
NEXT_MONTH = re.compile(r"\bdel mes que viene\b|\bdel proximo mes\b|\bof next month\b")

CURRENCY = r"(?:€|\$|eur\b|euros?\b|usd\b|dolares\b|dollars?\b|dls\b)"
NUMBER = re.compile(
    r"(?<![\w/.,])(\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"(?![\w/]|[.,]\d)"
)
AMOUNT_BEFORE = re.compile(
    r"(?:" + CURRENCY + r"\s*$)|(?:\b(?:pagar|pago|pagamos|pague|pagaremos|pagare|"
    r"transferir\w*|transferimos|transferido|ingres\w*|abon\w*|de|pay|paid|send|sent|wire|wired|"
    r"transfer\w*|importe|amount|total|of)\s*$)"
)
AMOUNT_AFTER = re.compile(r"^\s*" + CURRENCY)
NOT_AMOUNT_BEFORE = re.compile(
    r"(?:\b(?:el|dia|the|on|factura|invoice|no\.|nº|n°|num|numero|number|hasta|until|"
    r"jueves|viernes|lunes|martes|miercoles|sabado|domingo|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday|" + MONTHS + r")\s*$)|#\s*$"
)
NOT_AMOUNT_AFTER = re.compile(
    r"^(?:\s*(?:de " + MONTHS + r"|" + MONTHS + r"|dias|days|semanas|weeks|meses|months)\b"
    r"|(?:st|nd|rd|th|h)\b|\s*:)"
)


def normalize(text):
    """``text`` in lower case, without accents, its spaces collapsed."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.replace("’", "'").replace("`", "'").lower()
    return re.sub(r"\s+", " ", text).strip()


def _language(lang):
    return "es" if (lang or "").lower().startswith("es") else "en"


def dispute_reason(norm):
    """The code of the dispute reason ``norm`` (normalised text) gives, or False."""
    if NOT_RECEIVED.search(norm) and not INVOICE_WORD.search(norm):
        # Goods that never came; an invoice that never came is asked for again.
        first = "not_received"
    else:
        first = False
    for code, pattern in DISPUTE_REASONS:
        if pattern.search(norm):
            if first and code not in ("not_ordered", "returned"):
                return first
            return code
    return first


def kind_of(norm, lang="en_US", today=None):
    """The kind of the normalised reply ``norm`` and, for a dispute, its reason."""
    if OPT_OUT.search(norm):
        return "opt_out", False
    reason = dispute_reason(norm)
    if reason or DISPUTE_GENERIC.search(norm):
        return "dispute", reason
    if INVOICE_COPY.search(norm) or (NOT_RECEIVED.search(norm) and INVOICE_WORD.search(norm)):
        return "invoice_copy", False
    if PAID_STRONG.search(norm):
        return "paid", False
    if CANNOT_PAY.search(norm):
        return "other", False
    pays = PROMISE.search(norm)
    if pays and FUTURE.search(norm):
        return "promise", False
    if PROMISE_IDIOM.search(norm):
        return "promise", False
    if PAID_WEAK.search(norm):
        return "paid", False
    if pays and PAST.search(norm):
        return "paid", False
    if PAY_VERB.search(norm) or (pays and today and promised_date(norm, lang, today)):
        return "promise", False
    return "other", False


def _last_day_of_month(day):
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _next_day_of_month(today, number, next_month=False):
    """The next day numbered ``number`` from ``today`` on (today included)."""
    year, month = today.year, today.month
    if next_month or number < today.day:
        month += 1
        if month > 12:
            year, month = year + 1, 1
    for _attempt in range(3):
        if number <= calendar.monthrange(year, month)[1]:
            return date(year, month, number)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return False


def _without_amounts(norm):
    """``norm`` with its amounts blanked out, so that the date parser does not read
    "500" as a day or a year."""
    for start, end in reversed([span for _value, span in _amounts(norm)]):
        norm = norm[:start] + " " + norm[end:]
    norm = re.sub(CURRENCY, " ", norm)
    return COUNT.sub(lambda m: f"{NUMBER_WORDS[m.group(1)]} {m.group(2)}", norm)


def promised_date(norm, lang, today):
    """The day promised in the normalised text ``norm``, or False."""
    for pattern, fix in TYPOS:
        norm = pattern.sub(fix, norm)
    if DAY_AFTER_TOMORROW.search(norm):
        return today + timedelta(days=2)
    if END_OF_MONTH.search(norm):
        last = _last_day_of_month(today)
        return last if last > today else _last_day_of_month(last + timedelta(days=1))
    if NEXT_WEEK.search(norm):
        return today + timedelta(days=7)
    match = DAY_OF_MONTH.search(norm)
    if match and 1 <= int(match.group(1)) <= 31:
        return _next_day_of_month(today, int(match.group(1)), bool(NEXT_MONTH.search(norm)))
    return _parse_date(_without_amounts(norm), lang, today)


def _parse_date(norm, lang, today):
    from dateparser.search import search_dates  # slow to import: when first needed

    language = _language(lang)
    order = "MDY" if (lang or "").lower() in ("en_us", "en", "en-us") else "DMY"
    settings = {
        "RELATIVE_BASE": datetime.combine(today, datetime.min.time()),
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": order,
        "RETURN_TIME_AS_PERIOD": False,
    }
    for languages in ([language], ["en" if language == "es" else "es"]):
        found = search_dates(norm, languages=languages, settings=settings) or []
        for phrase, moment in found:
            text = phrase.strip()
            # A lone number is an amount or a count, not a date; so are short words the
            # parser reads as one ("a", "ok").
            if re.fullmatch(r"[\d\s.,]+", text) or len(text) < 3 or VAGUE.match(text):
                continue
            day = moment.date()
            if day < today:
                continue
            return day
    return False


def parse_number(raw):
    """The value of the number ``raw`` written with either decimal separator."""
    raw = raw.replace(" ", "")
    if "." in raw and "," in raw:
        decimal = "." if raw.rfind(".") > raw.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        return float(raw.replace(thousands, "").replace(decimal, "."))
    for separator in (".", ","):
        if separator in raw:
            parts = raw.split(separator)
            if len(parts) == 2 and len(parts[1]) in (1, 2):
                return float(parts[0] + "." + parts[1])
            return float(raw.replace(separator, ""))
    return float(raw)


def amount_of(text):
    """The amount written in ``text`` (promised or paid), or False."""
    for value, _span in _amounts(normalize(text)):
        return value
    return False


def _amounts(norm):
    """The amounts written in the normalised text ``norm``: (value, (start, end))."""
    for match in NUMBER.finditer(norm):
        raw = match.group(1)
        before, after = norm[: match.start()], norm[match.end() :]
        if NOT_AMOUNT_AFTER.search(after) or (
            NOT_AMOUNT_BEFORE.search(before) and not AMOUNT_AFTER.search(after)
        ):
            continue
        currency = AMOUNT_AFTER.search(after) or re.search(CURRENCY + r"\s*$", before)
        decimals = bool(re.search(r"[.,]\d{1,2}$", raw)) or bool(re.search(r"[., ]\d{3}", raw))
        if currency or decimals or AMOUNT_BEFORE.search(before):
            value = parse_number(raw)
            if value > 0:
                yield value, match.span()


def classify(text, lang, today):
    """What the reply ``text`` of a customer speaking ``lang`` (``es_ES``, ``en_US``...)
    received on ``today`` (a date) says: ``{"kind", "date", "amount", "reason"}``."""
    norm = normalize(text)
    kind, reason = kind_of(norm, lang, today)
    day = promised_date(norm, lang, today) if kind == "promise" else False
    amount = amount_of(text) if kind in ("promise", "paid") else False
    return {"kind": kind, "date": day, "amount": amount, "reason": reason}


def measure(rows):
    """Precision and recall of ``classify`` on labelled ``rows`` (dicts with ``text``,
    ``lang``, ``today``, ``kind``, ``date``, ``amount``, ``reason`` as in the corpus):
    ``{"kinds": {kind: {"precision", "recall", "support"}}, "dates": share of the
    promises with a date whose date is found exactly, "amounts": share of the promises
    and payments with an amount whose amount is found exactly, "reasons": share of the
    disputes with a reason whose reason is found, "errors": [(row, result)]}``."""
    counts = {kind: {"tp": 0, "fp": 0, "fn": 0} for kind in KINDS}
    dates, amounts, reasons = [0, 0], [0, 0], [0, 0]
    errors = []
    for row in rows:
        today = date.fromisoformat(row["today"])
        result = classify(row["text"], row["lang"], today)
        expected = row["kind"]
        wrong = result["kind"] != expected
        if wrong:
            counts[result["kind"]]["fp"] += 1
            counts[expected]["fn"] += 1
        else:
            counts[expected]["tp"] += 1
        if expected == "promise" and row["date"]:
            dates[1] += 1
            found = result["date"] and result["date"].isoformat() == row["date"]
            dates[0] += bool(found)
            wrong = wrong or not found
        if expected in ("promise", "paid") and row["amount"]:
            amounts[1] += 1
            found = (
                result["amount"] is not False
                and abs(result["amount"] - float(row["amount"])) < 0.005
            )
            amounts[0] += bool(found)
            wrong = wrong or not found
        if expected == "dispute" and row["reason"]:
            reasons[1] += 1
            reasons[0] += result["reason"] == row["reason"]
            wrong = wrong or result["reason"] != row["reason"]
        if wrong:
            errors.append((row, result))
    kinds = {}
    for kind, count in counts.items():
        found = count["tp"] + count["fp"]
        support = count["tp"] + count["fn"]
        kinds[kind] = {
            "precision": count["tp"] / found if found else 1.0,
            "recall": count["tp"] / support if support else 1.0,
            "support": support,
        }

    def share(pair):
        return pair[0] / pair[1] if pair[1] else 1.0

    return {
        "kinds": kinds,
        "dates": share(dates),
        "amounts": share(amounts),
        "reasons": share(reasons),
        "errors": errors,
    }
