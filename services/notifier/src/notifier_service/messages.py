"""The emails the notifier writes, in English, French, Spanish and Arabic.

Each message says what happened and what to do next, with a link into the portal; the request
reference leads every subject so a mailbox can be sorted by request. Rendering is pure: it
takes the facts (`Facts`) and a language and returns the subject, text and HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape

import pycountry
from babel import Locale
from babel.dates import format_date, format_datetime

LANGUAGES = ("en", "fr", "es", "ar")


@dataclass(frozen=True)
class Facts:
    """What a message may say: the request (never its description) and the offer's dates."""

    reference: str
    title: str
    country: str
    start: date
    end: date
    effort_days: int
    link: str
    expires_at: datetime | None = None
    priority: str | None = None


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    language: str


# (subject, lines) per trigger and language; `{…}` fields come from `Facts`, formatted.
TEXTS: dict[str, dict[str, tuple[str, list[str]]]] = {
    "offer": {
        "en": (
            "[{reference}] You are offered an assignment: {title}",
            [
                "The Programme Division would like you to take on this technical-assistance request:",
                "{title} — {country}, {start} to {end}, {effort_days} working days.",
                "Please accept or decline the offer in the portal before {expires_at}; unanswered, it lapses then.",
            ],
        ),
        "fr": (
            "[{reference}] Une mission vous est proposée : {title}",
            [
                "La Division des programmes souhaite vous confier cette demande d'assistance technique :",
                "{title} — {country}, du {start} au {end}, {effort_days} jours ouvrés.",
                "Veuillez accepter ou refuser l'offre dans le portail avant le {expires_at} ; sans réponse, elle expire alors.",
            ],
        ),
        "es": (
            "[{reference}] Se le propone una misión: {title}",
            [
                "La División de Programas desea confiarle esta solicitud de asistencia técnica:",
                "{title} — {country}, del {start} al {end}, {effort_days} días laborables.",
                "Acepte o rechace la oferta en el portal antes del {expires_at}; si no responde, caducará entonces.",
            ],
        ),
        "ar": (
            "[{reference}] عرض مهمة لك: {title}",
            [
                "تودّ شعبة البرامج أن تُسند إليك طلب المساعدة التقنية هذا:",
                "{title} — {country}، من {start} إلى {end}، {effort_days} يوم عمل.",
                "يُرجى قبول العرض أو رفضه في البوابة قبل {expires_at}؛ وإن لم تردّ ينتهي العرض عندئذٍ.",
            ],
        ),
    },
    "offer_reminder": {
        "en": (
            "[{reference}] Reminder: the offer for {title} lapses on {expires_at}",
            [
                "You have not yet answered the offer for {title} — {country}, {start} to {end}, {effort_days} working days.",
                "It lapses on {expires_at}. Please accept or decline it in the portal, so the country office can plan:",
            ],
        ),
        "fr": (
            "[{reference}] Rappel : l'offre pour {title} expire le {expires_at}",
            [
                "Vous n'avez pas encore répondu à l'offre pour {title} — {country}, du {start} au {end}, {effort_days} jours ouvrés.",
                "Elle expire le {expires_at}. Veuillez l'accepter ou la refuser dans le portail, afin que le bureau de pays puisse s'organiser :",
            ],
        ),
        "es": (
            "[{reference}] Recordatorio: la oferta para {title} caduca el {expires_at}",
            [
                "Aún no ha respondido a la oferta para {title} — {country}, del {start} al {end}, {effort_days} días laborables.",
                "Caduca el {expires_at}. Acéptela o recházela en el portal, para que la oficina de país pueda organizarse:",
            ],
        ),
        "ar": (
            "[{reference}] تذكير: ينتهي العرض الخاص بطلب {title} في {expires_at}",
            [
                "لم تردّ بعد على العرض الخاص بطلب {title} — {country}، من {start} إلى {end}، {effort_days} يوم عمل.",
                "ينتهي العرض في {expires_at}. يُرجى قبوله أو رفضه في البوابة ليتمكّن المكتب القُطري من التخطيط:",
            ],
        ),
    },
    "accepted": {
        "en": (
            "[{reference}] The expert accepted: {title}",
            [
                "The expert proposed for {title} ({country}, {start} to {end}) accepted the offer.",
                "The request is now fulfilled. See the request and agree the next steps with the expert:",
            ],
        ),
        "fr": (
            "[{reference}] L'expert ou l'experte a accepté : {title}",
            [
                "La personne proposée pour {title} ({country}, du {start} au {end}) a accepté l'offre.",
                "La demande est satisfaite. Consultez-la et convenez des prochaines étapes avec la personne :",
            ],
        ),
        "es": (
            "[{reference}] La persona experta aceptó: {title}",
            [
                "La persona propuesta para {title} ({country}, del {start} al {end}) aceptó la oferta.",
                "La solicitud está atendida. Consúltela y acuerde los próximos pasos con la persona experta:",
            ],
        ),
        "ar": (
            "[{reference}] قَبِل الخبير العرض: {title}",
            [
                "قَبِل الخبير المقترح لطلب {title} ({country}، من {start} إلى {end}) العرض.",
                "تمّت تلبية الطلب. اطّلع عليه واتفق مع الخبير على الخطوات التالية:",
            ],
        ),
    },
    "declined": {
        "en": (
            "[{reference}] The expert declined: {title}",
            [
                "The expert proposed for {title} ({country}, {start} to {end}) declined the offer.",
                "The request is back in review; the Programme Division will propose someone else:",
            ],
        ),
        "fr": (
            "[{reference}] L'expert ou l'experte a refusé : {title}",
            [
                "La personne proposée pour {title} ({country}, du {start} au {end}) a refusé l'offre.",
                "La demande est de nouveau en examen ; la Division des programmes proposera quelqu'un d'autre :",
            ],
        ),
        "es": (
            "[{reference}] La persona experta rechazó: {title}",
            [
                "La persona propuesta para {title} ({country}, del {start} al {end}) rechazó la oferta.",
                "La solicitud vuelve a estar en revisión; la División de Programas propondrá a otra persona:",
            ],
        ),
        "ar": (
            "[{reference}] اعتذر الخبير عن العرض: {title}",
            [
                "اعتذر الخبير المقترح لطلب {title} ({country}، من {start} إلى {end}) عن العرض.",
                "عاد الطلب إلى المراجعة، وستقترح شعبة البرامج شخصًا آخر:",
            ],
        ),
    },
    "expired": {
        "en": (
            "[{reference}] The offer lapsed unanswered: {title}",
            [
                "The offer for {title} ({country}, {start} to {end}) was not answered in time and has lapsed.",
                "The request is back in review; the Programme Division will propose someone else:",
            ],
        ),
        "fr": (
            "[{reference}] L'offre a expiré sans réponse : {title}",
            [
                "L'offre pour {title} ({country}, du {start} au {end}) n'a pas reçu de réponse à temps et a expiré.",
                "La demande est de nouveau en examen ; la Division des programmes proposera quelqu'un d'autre :",
            ],
        ),
        "es": (
            "[{reference}] La oferta caducó sin respuesta: {title}",
            [
                "La oferta para {title} ({country}, del {start} al {end}) no se respondió a tiempo y caducó.",
                "La solicitud vuelve a estar en revisión; la División de Programas propondrá a otra persona:",
            ],
        ),
        "ar": (
            "[{reference}] انتهى العرض دون ردّ: {title}",
            [
                "لم يُردّ على العرض الخاص بطلب {title} ({country}، من {start} إلى {end}) في الوقت المحدد فانتهى.",
                "عاد الطلب إلى المراجعة، وستقترح شعبة البرامج شخصًا آخر:",
            ],
        ),
    },
    "submitted": {
        "en": (
            "[{reference}] New request to review: {title}",
            [
                "A country office submitted a technical-assistance request: {title} — {country}, "
                "{start} to {end}, {effort_days} working days, priority {priority}.",
                "Start its review and open the shortlist in the portal:",
            ],
        ),
        "fr": (
            "[{reference}] Nouvelle demande à examiner : {title}",
            [
                "Un bureau de pays a soumis une demande d'assistance technique : {title} — {country}, "
                "du {start} au {end}, {effort_days} jours ouvrés, priorité {priority}.",
                "Commencez son examen et ouvrez la liste restreinte dans le portail :",
            ],
        ),
        "es": (
            "[{reference}] Nueva solicitud para revisar: {title}",
            [
                "Una oficina de país presentó una solicitud de asistencia técnica: {title} — {country}, "
                "del {start} al {end}, {effort_days} días laborables, prioridad {priority}.",
                "Inicie su revisión y abra la lista de candidatos en el portal:",
            ],
        ),
        "ar": (
            "[{reference}] طلب جديد للمراجعة: {title}",
            [
                "قدّم مكتب قُطري طلب مساعدة تقنية: {title} — {country}، من {start} إلى {end}، "
                "{effort_days} يوم عمل، الأولوية: {priority}.",
                "ابدأ مراجعته وافتح القائمة المختصرة في البوابة:",
            ],
        ),
    },
}
PRIORITIES = {
    "en": {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
    "fr": {"low": "basse", "normal": "normale", "high": "haute", "urgent": "urgente"},
    "es": {"low": "baja", "normal": "normal", "high": "alta", "urgent": "urgente"},
    "ar": {"low": "منخفضة", "normal": "عادية", "high": "مرتفعة", "urgent": "عاجلة"},
}
SIGN_OFF = {
    "en": "MNR Expert Roster — WePROTECT Model National Response technical assistance. This message was sent automatically.",
    "fr": "Fichier d'experts MNR — assistance technique du Modèle de réponse nationale WePROTECT. Message envoyé automatiquement.",
    "es": "Registro de personas expertas MNR — asistencia técnica del Modelo de Respuesta Nacional WePROTECT. Mensaje enviado automáticamente.",
    "ar": "سجل خبراء نموذج الاستجابة الوطنية — المساعدة التقنية لنموذج الاستجابة الوطنية لتحالف WePROTECT. أُرسلت هذه الرسالة تلقائيًا.",
}


def country_name(iso3: str, language: str) -> str:
    found = pycountry.countries.get(alpha_3=iso3)
    if found is None:
        return iso3
    return str(Locale.parse(language).territories.get(found.alpha_2) or found.name)


def render(trigger: str, facts: Facts, language: str) -> Message:
    """The message for `trigger` in `language` (English when the language is not one of ours)."""
    language = language if language in LANGUAGES else "en"
    subject, lines = TEXTS[trigger][language]
    fields = {
        "reference": facts.reference,
        "title": facts.title,
        "country": country_name(facts.country, language),
        "start": format_date(facts.start, format="long", locale=language),
        "end": format_date(facts.end, format="long", locale=language),
        "effort_days": str(facts.effort_days),
        "priority": PRIORITIES[language].get(facts.priority or "", facts.priority or ""),
        "expires_at": format_datetime(facts.expires_at, format="long", locale=language)
        if facts.expires_at
        else "",
    }
    said = [line.format(**fields) for line in lines]
    text = "\n\n".join([*said, facts.link, "—", SIGN_OFF[language]]) + "\n"
    direction = "rtl" if language == "ar" else "ltr"
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in said)
    html = (
        f'<!doctype html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8">'
        f"<title>{escape(subject.format(**fields))}</title></head><body>{paragraphs}"
        f'<p><a href="{escape(facts.link, quote=True)}">{escape(facts.link)}</a></p>'
        f'<p style="color:#555">{escape(SIGN_OFF[language])}</p></body></html>'
    )
    return Message(subject=subject.format(**fields), text=text, html=html, language=language)
