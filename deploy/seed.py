"""Generate deterministic synthetic demo data (experts and assistance requests) for the roster.

Every record is made up: names come from small per-region pools, e-mail addresses use the
example.org domain only, and phone numbers are random digits. The same seed, counts and
`--today` always give byte-identical files, so demo environments, screenshots and tests agree.

Output (in `--out`, default `var/demo`):

* `experts.json`: a JSON array of expert records in the shape of the roster API;
* `requests.json`: a JSON array of technical-assistance requests in the shape of the requests API;
* `manifest.json`: seed, `--today`, counts, generator version and the SHA-256 of both files.

The script is safe to run on every start: when the manifest already describes the requested
data it does nothing and says so, unless `--force` is given.

This module is the single place where demo data is generated. A later change will POST these
records to the roster and requests APIs; extend `generate_experts` and `generate_requests`
(and bump `GENERATOR_VERSION`) rather than writing records anywhere else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import sys
import tempfile
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypedDict

from mnr_shared.reference import (
    CEFR,
    capabilities,
    countries,
    normalize_language,
    region_of,
    regions,
    validate_country,
)

# Bump whenever the output for a given seed changes, so existing demo data is regenerated.
GENERATOR_VERSION = "1"
DEFAULT_SEED = 2026
DEFAULT_EXPERTS = 300
DEFAULT_REQUESTS = 20
DEFAULT_OUT = Path("var/demo")
# A fixed "today" keeps the output independent of the wall clock.
DEFAULT_TODAY = date(2026, 11, 28)

EXPERTS_FILE = "experts.json"
REQUESTS_FILE = "requests.json"
MANIFEST_FILE = "manifest.json"
EMAIL_DOMAIN = "example.org"
INTERNATIONAL = "international"

Modality = Literal["remote", "in_country", "either"]
ExpertStatus = Literal["applicant", "active", "inactive", "suspended"]
RequestStatus = Literal[
    "draft",
    "submitted",
    "in_review",
    "matched",
    "fulfilled",
    "closed",
    "withdrawn",
    "rejected",
    "cancelled",
]
Importance = Literal["required", "desired"]
Priority = Literal["low", "normal", "high", "urgent"]
NationalityPreference = Literal["any", "national", "international"]

MODALITIES: tuple[Modality, ...] = ("remote", "in_country", "either")
EXPERT_STATUSES: tuple[ExpertStatus, ...] = ("active", "applicant", "inactive", "suspended")
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
NATIONALITY_PREFERENCES: tuple[NationalityPreference, ...] = ("any", "national", "international")


class Money(TypedDict):
    amount: int
    currency: str


class ExpertCapability(TypedDict):
    capability: int
    level: int


class ExpertLanguage(TypedDict):
    tag: str
    level: str


class Vetting(TypedDict):
    references_checked_on: str | None
    safeguarding_check_on: str | None
    bsafe_completed_on: str | None


class Period(TypedDict):
    start: str
    end: str


class Expert(TypedDict):
    id: str
    full_name: str
    email: str
    phone: str
    nationalities: list[str]
    residence_country: str
    gender: str | None
    summary: str
    years_experience: int
    daily_rate: Money
    modality: Modality
    status: ExpertStatus
    capabilities: list[ExpertCapability]
    languages: list[ExpertLanguage]
    country_experience: list[str]
    vetting: Vetting
    unavailability: list[Period]


class RequiredCapability(TypedDict):
    capability: int
    min_level: int
    importance: Importance


class RequiredLanguage(TypedDict):
    tag: str
    min_level: str
    importance: Importance


class AssistanceRequest(TypedDict):
    reference: str
    country: str
    office: str
    title: str
    description: str
    capabilities: list[RequiredCapability]
    languages: list[RequiredLanguage]
    modality: Modality
    start_date: str
    end_date: str
    effort_days: int
    priority: Priority
    nationality_preference: NationalityPreference
    status: RequestStatus


# --- name and language pools ------------------------------------------------------------------


class Culture(NamedTuple):
    """People who share a name pool and languages, with the countries they live in."""

    female: tuple[str, ...]
    male: tuple[str, ...]
    # "Karimov/Karimova" gives the male and female form of a surname.
    surnames: tuple[str, ...]
    # ISO3 → possible mother tongues, most common first.
    homes: Mapping[str, tuple[str, ...]]
    # Further languages: (tag, probability, levels to draw from).
    extras: tuple[tuple[str, float, tuple[CEFR, ...]], ...]
    family_first: bool = False
    double_surname: float = 0.0


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _culture(
    female: str,
    male: str,
    surnames: str,
    homes: str,
    extras: str,
    *,
    family_first: bool = False,
    double_surname: float = 0.0,
) -> Culture:
    """Compact table syntax: homes `"KEN: sw ki; UGA: lg"`, extras `"en .9 B2 C1; fr .2 B1"`."""
    home_map = {
        code.strip(): tuple(tags.split()) for code, tags in (part.split(":") for part in homes.split(";"))
    }
    extra_list = []
    for part in filter(None, (p.strip() for p in extras.split(";"))):
        tag, probability, *levels = part.split()
        extra_list.append((tag, float(probability), tuple(CEFR(level) for level in levels)))
    return Culture(
        _items(female),
        _items(male),
        _items(surnames),
        home_map,
        tuple(extra_list),
        family_first,
        double_surname,
    )


ENGLISH_GOOD = "en .85 B2 C1 C1 C2"

CULTURES: dict[str, dict[str, tuple[Culture, float]]] = {
    "EAPRO": {
        "filipino": (
            _culture(
                "Maria Luz, Ana, Kristine, Joy, Rowena, Angelica, Camille, Maricel",
                "Jose, Mark Anthony, Rommel, Paolo, Carlo, Ramon, Jericho, Miguel",
                "Santos, Reyes, Cruz, Bautista, Dela Cruz, Garcia, Mendoza, Villanueva, Aquino",
                "PHL: fil ceb",
                "en .98 C1 C2 C2",
            ),
            3.0,
        ),
        "indonesian": (
            _culture(
                "Siti, Dewi, Ratna, Putri, Indah, Rina, Nur, Ayu",
                "Budi, Agus, Hendra, Rizky, Adi, Fajar, Yusuf, Dimas",
                "Wijaya, Santoso, Saputra, Hidayat, Kusuma, Pratama, Nugroho, Siregar, Lubis",
                "IDN: id; MYS: ms",
                f"{ENGLISH_GOOD}; ms .1 B2 C1",
            ),
            2.0,
        ),
        "vietnamese": (
            _culture(
                "Thị Lan, Thu Trang, Ngọc Anh, Thanh Hương, Minh Châu, Thị Mai",
                "Văn Minh, Đức Anh, Quang Huy, Tuấn Anh, Hoàng Nam, Văn Long",
                "Nguyễn, Trần, Lê, Phạm, Hoàng, Vũ, Đặng, Bùi, Đỗ",
                "VNM: vi",
                "en .8 B2 C1; fr .1 B1 B2",
                family_first=True,
            ),
            1.5,
        ),
        "thai": (
            _culture(
                "Suda, Ploy, Nattaya, Kanya, Siriporn, Malee",
                "Somchai, Anan, Kittisak, Prasert, Narong, Chaiwat",
                "Srisuk, Chaiyaporn, Wongsakul, Thongchai, Rattanakorn, Phromma, Sukprasert",
                "THA: th",
                "en .85 B2 C1",
            ),
            1.5,
        ),
        "khmer": (
            _culture(
                "Sophea, Sreymom, Bopha, Chanthou, Sothea, Dara",
                "Vuthy, Sokha, Rithy, Piseth, Visal, Dara",
                "Sok, Chan, Heng, Kim, Lim, Meas, Prak, Chea",
                "KHM: km",
                "en .85 B2 C1; fr .15 B1 B2",
                family_first=True,
            ),
            1.0,
        ),
        "lao": (
            _culture(
                "Somphone, Khamla, Manivanh, Phonesavanh",
                "Bounmy, Sengphet, Khamphet, Somsack",
                "Phommachanh, Sisouphanh, Vongsa, Keomany, Inthavong",
                "LAO: lo",
                "en .75 B1 B2 C1; fr .2 B1 B2; th .4 B2 C1",
            ),
            0.5,
        ),
        "mongolian": (
            _culture(
                "Oyunchimeg, Sarangerel, Enkhjargal, Bolormaa, Narantuya",
                "Batbayar, Ganbold, Enkhbold, Tserendorj, Munkh-Erdene",
                "Bold, Dorj, Ganbaatar, Tsogt, Purev, Batsukh",
                "MNG: mn",
                "en .8 B2 C1; ru .5 B1 B2 C1",
            ),
            0.7,
        ),
        "pacific": (
            _culture(
                "Litia, Mere, Salote, Grace, Losana, Ana",
                "Josaia, Sione, Tevita, Peni, Joseph, Iosefa",
                "Waqa, Ravuvu, Fifita, Tuiasosopo, Kapi, Namaliu, Leota, Havili",
                "FJI: fj en; WSM: sm; TON: to; PNG: tpi en; VUT: bi; SLB: en",
                "en .98 C1 C2",
            ),
            1.0,
        ),
        "chinese": (
            _culture(
                "Xiaoling, Mei, Jing, Yan, Hui, Lina",
                "Wei, Jun, Lei, Hao, Ming, Qiang",
                "Wang, Li, Zhang, Liu, Chen, Yang, Zhao, Huang",
                "CHN: zh",
                "en .85 B2 C1 C1",
                family_first=True,
            ),
            0.8,
        ),
    },
    "ECARO": {
        "albanian": (
            _culture(
                "Arta, Elira, Blerina, Drita, Mimoza, Valbona, Era",
                "Arben, Besnik, Gentian, Ilir, Dritan, Florian, Erion",
                "Hoxha, Shehu, Krasniqi, Gashi, Berisha, Dervishi, Kelmendi, Leka, Çela",
                "ALB: sq; XKX: sq",
                f"{ENGLISH_GOOD}; it .25 B1 B2; sr .1 B1 B2",
            ),
            1.5,
        ),
        "south_slavic": (
            _culture(
                "Jelena, Milica, Ivana, Marija, Sanja, Amra, Aida, Biljana",
                "Nikola, Marko, Stefan, Aleksandar, Dejan, Emir, Adnan, Goran",
                "Jovanović, Petrović, Nikolić, Hadžić, Kovačević, Popović, Marković, Delić",
                "SRB: sr; BIH: bs; MNE: sr; MKD: mk",
                f"{ENGLISH_GOOD}; de .15 B1 B2; ru .1 A2 B1",
            ),
            1.5,
        ),
        "ukrainian": (
            _culture(
                "Olena, Iryna, Oksana, Kateryna, Nataliia, Yuliia",
                "Andrii, Oleksandr, Dmytro, Serhii, Taras, Mykola",
                "Shevchenko, Kovalenko, Bondarenko, Tkachenko, Kravchenko, Melnyk, Boiko, Lysenko",
                "UKR: uk",
                "ru .8 C1 C2; en .8 B2 C1; pl .1 B1 B2",
            ),
            1.0,
        ),
        "romanian": (
            _culture(
                "Ana, Elena, Mariana, Ioana, Cristina, Diana",
                "Ion, Andrei, Vasile, Mihai, Sergiu, Victor",
                "Popescu, Rusu, Ceban, Munteanu, Ciobanu, Lungu, Cojocaru, Ionescu",
                "MDA: ro; ROU: ro",
                "en .85 B2 C1; ru .45 B2 C1; fr .3 B1 B2",
            ),
            1.2,
        ),
        "georgian": (
            _culture(
                "Nino, Tamar, Ketevan, Mariam, Eka",
                "Giorgi, Davit, Levan, Irakli, Nikoloz",
                "Beridze, Kapanadze, Gelashvili, Lomidze, Tsiklauri, Maisuradze",
                "GEO: ka",
                "en .85 B2 C1; ru .6 B2 C1",
            ),
            0.6,
        ),
        "armenian": (
            _culture(
                "Anahit, Lilit, Armine, Gayane, Narine",
                "Aram, Tigran, Hayk, Armen, Davit",
                "Petrosyan, Hakobyan, Sargsyan, Grigoryan, Harutyunyan, Avetisyan",
                "ARM: hy",
                "en .8 B2 C1; ru .7 B2 C1",
            ),
            0.6,
        ),
        "central_asian": (
            _culture(
                "Aigerim, Dinara, Gulnara, Madina, Zarina, Nodira",
                "Nurlan, Timur, Rustam, Bakhtiyar, Azamat, Daniyar",
                "Abdullaev/Abdullaeva, Karimov/Karimova, Rakhimov/Rakhimova, Iskakov/Iskakova, "
                "Saidov/Saidova, Usmonov/Usmonova, Zhakupov/Zhakupova",
                "KAZ: kk ru; KGZ: ky ru; UZB: uz; TJK: tg",
                "ru .9 C1 C2; en .7 B1 B2 C1",
            ),
            1.2,
        ),
        "turkish": (
            _culture(
                "Ayşe, Elif, Zeynep, Fatma, Selin, Derya",
                "Mehmet, Emre, Mustafa, Burak, Can, Murat",
                "Yılmaz, Kaya, Demir, Şahin, Çelik, Aydın, Öztürk, Arslan",
                "TUR: tr",
                "en .8 B2 C1; de .1 B1 B2",
            ),
            0.8,
        ),
    },
    "ESARO": {
        "east_african": (
            _culture(
                "Grace, Faith, Mercy, Wanjiru, Achieng, Nakato, Neema, Aline, Esther, Agnes",
                "Joseph, Brian, Emmanuel, Otieno, Kamau, Baraka, Mugisha, Juma, Patrick, Daniel",
                "Mwangi, Odhiambo, Kiptoo, Njoroge, Wanyama, Okello, Ssempijja, Mushi, Massawe, "
                "Uwimana, Habimana, Mutua, Kato",
                "KEN: sw ki luo; UGA: lg sw; TZA: sw; RWA: rw; BDI: rw",
                "en .97 C1 C2; sw .5 B2 C1; fr .2 B1 B2",
            ),
            4.0,
        ),
        "ethiopian": (
            _culture(
                "Selamawit, Hiwot, Meron, Tigist, Bethlehem",
                "Dawit, Yonas, Abebe, Tesfaye, Henok",
                "Tadesse, Bekele, Girma, Haile, Alemu, Mengistu, Assefa, Wolde",
                "ETH: am om ti; ERI: ti",
                "en .92 B2 C1",
            ),
            1.2,
        ),
        "southern_african": (
            _culture(
                "Thandiwe, Nomvula, Chipo, Tendai, Lerato, Naledi, Precious, Chikondi",
                "Sipho, Themba, Tatenda, Kabelo, Mandla, Chimwemwe, Tinashe, Thabo",
                "Dlamini, Ndlovu, Moyo, Banda, Phiri, Mokoena, Nkosi, Mbewe, Chirwa, Sibanda",
                "ZAF: zu xh af st en; ZMB: ny en; ZWE: sn; MWI: ny; BWA: tn; NAM: af en; LSO: st; SWZ: ss",
                "en .98 C1 C2",
            ),
            3.0,
        ),
        "somali": (
            _culture(
                "Hodan, Amina, Faadumo, Sahra, Ifrah",
                "Abdirahman, Mohamed, Ahmed, Abdullahi, Hassan",
                "Warsame, Farah, Mohamud, Osman, Hussein, Abdi, Jama",
                "SOM: so",
                "en .85 B2 C1; ar .5 B1 B2 C1",
            ),
            0.6,
        ),
        "malagasy": (
            _culture(
                "Hanitra, Voahangy, Fanja, Miora, Tiana",
                "Rivo, Andry, Hery, Tojo, Fidy",
                "Rakotomalala, Randrianarisoa, Rasolofo, Rabemananjara, Andriamihaja",
                "MDG: mg",
                "fr .95 C1 C2; en .6 B1 B2",
            ),
            0.6,
        ),
        "lusophone": (
            _culture(
                "Ana, Celeste, Graça, Luísa, Esperança, Yolanda",
                "António, Manuel, Celso, Elísio, Nelson, Domingos",
                "Machava, Sitoe, Mabunda, Cossa, dos Santos, Nhantumbo, Lourenço, Neto",
                "MOZ: pt ts; AGO: pt kmb",
                "pt .95 C1 C2; en .7 B1 B2 C1",
            ),
            1.2,
        ),
    },
    "LACRO": {
        "hispanic": (
            _culture(
                "María José, Ana Lucía, Valentina, Carolina, Daniela, Gabriela, Lucía, Fernanda, "
                "Paola, Claudia",
                "José Luis, Carlos, Andrés, Juan Pablo, Diego, Alejandro, Javier, Luis Fernando, "
                "Ricardo, Mateo",
                "García, Rodríguez, Martínez, López, Gómez, Torres, Ramírez, Flores, Vargas, Quispe, "
                "Mendoza, Herrera, Castillo, Rojas",
                "MEX: es; COL: es; PER: es qu; GTM: es; ECU: es; BOL: es qu; ARG: es; CHL: es; "
                "HND: es; DOM: es; SLV: es; PRY: es gn; CRI: es; PAN: es; URY: es",
                "en .7 B1 B2 C1; pt .15 B1 B2; fr .1 A2 B1",
                double_surname=0.5,
            ),
            6.0,
        ),
        "brazilian": (
            _culture(
                "Ana Paula, Juliana, Fernanda, Camila, Mariana, Patrícia",
                "João, Pedro, Lucas, Rafael, Thiago, Marcelo",
                "Silva, Santos, Oliveira, Souza, Pereira, Costa, Almeida, Ferreira, Carvalho",
                "BRA: pt",
                "es .6 B1 B2 C1; en .75 B2 C1",
            ),
            2.0,
        ),
        "caribbean": (
            _culture(
                "Shanice, Kimberley, Tamara, Nadine, Keisha, Andrea",
                "Andre, Dwayne, Marlon, Kevin, Damion, Ryan",
                "Campbell, Brown, Williams, Thompson, Francis, Ramdial, Persaud, Joseph, Charles",
                "JAM: en; TTO: en; BRB: en; GUY: en; BLZ: en es; LCA: en",
                "es .25 B1 B2",
            ),
            1.0,
        ),
        "haitian": (
            _culture(
                "Marie-Claude, Nadège, Widline, Guerline, Rose-Marie",
                "Jean-Robert, Wilner, Fritz, Jean-Baptiste, Ricardo",
                "Pierre, Joseph, Jean-Louis, Saint-Fleur, Dorval, Étienne",
                "HTI: ht",
                "fr .95 C1 C2; en .5 B1 B2; es .2 B1",
            ),
            0.5,
        ),
    },
    "MENARO": {
        "levantine": (
            _culture(
                "Lina, Rania, Hala, Nour, Dima, Maha, Reem, Zeina",
                "Omar, Khaled, Ahmad, Rami, Hussein, Bassam, Tariq, Ziad",
                "Haddad, Khoury, Al-Masri, Nasser, Hamdan, Saleh, Jaber, Al-Tamimi, Mansour",
                "JOR: ar; LBN: ar; SYR: ar; PSE: ar; IRQ: ar ckb; YEM: ar",
                "en .9 B2 C1 C1 C2; fr .3 B1 B2 C1",
            ),
            3.0,
        ),
        "nile": (
            _culture(
                "Mona, Heba, Yasmin, Nermeen, Amira, Salma",
                "Mohamed, Mahmoud, Ahmed, Karim, Sherif, Hisham",
                "Abdel-Fattah, El-Sayed, Hassan, Mostafa, Ibrahim, Farouk, Osman, Elamin",
                "EGY: ar; SDN: ar",
                "en .9 B2 C1; fr .15 B1 B2",
            ),
            2.0,
        ),
        "maghrebi": (
            _culture(
                "Fatima-Zahra, Khadija, Salma, Imane, Leila, Meriem",
                "Youssef, Mehdi, Hamza, Karim, Anis, Rachid",
                "Benali, El Amrani, Bennani, Trabelsi, Ben Salah, Bouzid, Chaoui, Mansouri",
                "MAR: ar zgh; TUN: ar; DZA: ar kab; LBY: ar",
                "fr .9 C1 C2; en .65 B1 B2 C1",
            ),
            2.0,
        ),
        "iranian": (
            _culture(
                "Maryam, Zahra, Shirin, Nasrin, Parisa",
                "Ali, Reza, Hossein, Amir, Dariush",
                "Hosseini, Mohammadi, Rezaei, Karimi, Ahmadi, Rahimi, Tehrani",
                "IRN: fa",
                "en .8 B2 C1; ar .2 B1 B2",
            ),
            0.8,
        ),
    },
    "ROSA": {
        "indian": (
            _culture(
                "Priya, Ananya, Kavita, Sunita, Meera, Deepa, Lakshmi, Anjali",
                "Rahul, Amit, Vikram, Arjun, Sanjay, Rajesh, Karthik, Anand",
                "Sharma, Patel, Iyer, Nair, Reddy, Gupta, Singh, Das, Menon, Chatterjee, Kulkarni",
                "IND: hi ta te bn mr ml kn gu",
                "en .98 C1 C2; hi .5 B2 C1",
            ),
            4.0,
        ),
        "bangladeshi": (
            _culture(
                "Nusrat, Farzana, Sharmin, Taslima, Rumana, Shirin",
                "Rafiq, Tanvir, Mahmud, Arif, Kamrul, Sajid",
                "Rahman, Hossain, Islam, Ahmed, Chowdhury, Khan, Sarkar",
                "BGD: bn",
                "en .92 B2 C1 C2; hi .2 B1 B2",
            ),
            2.0,
        ),
        "nepali": (
            _culture(
                "Sita, Sarita, Anjana, Pratima, Sushma, Kalpana",
                "Ramesh, Bikash, Suman, Prakash, Binod, Dipak",
                "Shrestha, Gurung, Thapa, Adhikari, Karki, Rai, Tamang, Poudel, Sherpa",
                "NPL: ne; BTN: dz",
                "en .9 B2 C1; hi .5 B1 B2 C1",
            ),
            1.5,
        ),
        "pakistani_afghan": (
            _culture(
                "Ayesha, Sana, Fatima, Maryam, Hina, Zainab",
                "Imran, Usman, Bilal, Farhan, Ahmad, Naveed",
                "Khan, Malik, Qureshi, Siddiqui, Hussain, Ahmadzai, Popal, Sultani",
                "PAK: ur pa ps; AFG: ps fa",
                "en .88 B2 C1 C2",
            ),
            1.5,
        ),
        "sri_lankan": (
            _culture(
                "Nadeesha, Dilani, Chathuri, Sanduni, Tharushi",
                "Kasun, Nuwan, Chaminda, Ruwan, Dinesh, Pradeep",
                "Perera, Fernando, de Silva, Jayasinghe, Wickramasinghe, Bandara, Herath, Sivakumar",
                "LKA: si ta; MDV: dv",
                "en .95 C1 C2",
            ),
            1.0,
        ),
    },
    "WCARO": {
        "nigerian": (
            _culture(
                "Chiamaka, Ngozi, Funmilayo, Aisha, Adaeze, Folake, Hauwa, Blessing",
                "Chinedu, Oluwaseun, Emeka, Ibrahim, Tunde, Musa, Obinna, Babatunde",
                "Okafor, Adeyemi, Eze, Bello, Nwosu, Abubakar, Okonkwo, Adebayo, Usman, Olawale",
                "NGA: yo ig ha",
                "en .99 C1 C2 C2; ha .2 B1 B2",
            ),
            3.0,
        ),
        "anglophone_west": (
            _culture(
                "Akosua, Ama, Abena, Efua, Adwoa, Fatmata, Isatu",
                "Kwame, Kofi, Kwabena, Yaw, Mohamed, Alusine",
                "Mensah, Asante, Owusu, Boateng, Osei, Kamara, Koroma, Sesay, Bangura, Jallow",
                "GHA: ak ee; SLE: kri en; LBR: en; GMB: wo ff",
                "en .99 C1 C2; fr .15 A2 B1 B2",
            ),
            2.0,
        ),
        "francophone_west": (
            _culture(
                "Aminata, Fatou, Mariama, Awa, Aïssatou, Kadiatou, Adjoua, Rokia",
                "Mamadou, Ousmane, Ibrahima, Moussa, Abdoulaye, Cheikh, Koffi, Souleymane",
                "Diallo, Ndiaye, Traoré, Coulibaly, Diop, Sow, Keïta, Ouédraogo, Konaté, Kouassi, "
                "Sawadogo, Camara",
                "SEN: wo ff; MLI: bm; BFA: mos fr; NER: ha; GIN: ff; CIV: fr bci dyu; BEN: fon fr; "
                "TGO: ee fr; MRT: ar",
                "fr .98 C1 C2; en .6 B1 B2; ar .1 B1",
            ),
            4.0,
        ),
        "central_african": (
            _culture(
                "Chantal, Grâce, Nadine, Solange, Ornella, Josiane",
                "Jean-Pierre, Patrick, Serge, Hervé, Fabrice, Blaise",
                "Mbuyi, Ilunga, Kasongo, Nkoulou, Etoundi, Mabiala, Ngoma, Tshibangu, Ondo, Mahamat",
                "COD: ln sw lua; CMR: fr en; COG: ln kg; GAB: fr; TCD: ar fr; CAF: sg",
                "fr .98 C1 C2; en .55 B1 B2; sw .15 B1 B2",
            ),
            2.0,
        ),
    },
    INTERNATIONAL: {
        "anglo": (
            _culture(
                "Sarah, Emma, Catherine, Rachel, Laura, Jennifer, Siobhan, Fiona",
                "James, David, Michael, Thomas, Daniel, Andrew, Patrick, Matthew",
                "Smith, Taylor, Johnson, O'Brien, Williams, MacDonald, Walker, Harris, Clarke, Murphy",
                "GBR: en; USA: en; CAN: en fr; AUS: en; IRL: en; NZL: en",
                "fr .35 B1 B2 C1; es .25 B1 B2 C1; pt .08 B1 B2; ar .05 B1; sw .05 B1",
            ),
            5.0,
        ),
        "french": (
            _culture(
                "Claire, Sophie, Camille, Élise, Mathilde, Amélie",
                "Julien, Nicolas, Mathieu, Antoine, Guillaume, Olivier",
                "Martin, Bernard, Dubois, Moreau, Laurent, Lefèvre, Girard, Fontaine, Rousseau",
                "FRA: fr",
                "en .95 B2 C1 C2; es .3 B1 B2; ar .08 B1",
            ),
            1.5,
        ),
        "german": (
            _culture(
                "Anna, Katharina, Julia, Sabine, Lena, Franziska",
                "Markus, Stefan, Tobias, Jan, Florian, Matthias",
                "Müller, Schmidt, Schneider, Fischer, Weber, Becker, Hoffmann, Wagner",
                "DEU: de",
                "en .98 C1 C2; fr .3 B1 B2; es .2 B1 B2",
            ),
            1.0,
        ),
        "dutch": (
            _culture(
                "Sanne, Femke, Anouk, Lotte, Marieke",
                "Jeroen, Bram, Pieter, Sander, Joost",
                "de Vries, van Dijk, Jansen, Bakker, Visser, Smit, de Jong, van den Berg",
                "NLD: nl",
                "en .99 C1 C2; fr .3 B1 B2; de .4 B1 B2",
            ),
            1.0,
        ),
        "nordic": (
            _culture(
                "Ingrid, Astrid, Karin, Sofia, Maja, Sigrid",
                "Erik, Lars, Anders, Magnus, Johan, Henrik",
                "Andersson, Johansson, Lindqvist, Berg, Hansen, Olsen, Johansen, Nilsson, Larsen",
                "SWE: sv; NOR: nb",
                "en .99 C1 C2; fr .2 B1 B2; es .15 B1 B2",
            ),
            1.0,
        ),
    },
}

# Share of experts per group; international experts come from outside the programme countries.
GROUP_WEIGHTS: dict[str, float] = {
    "EAPRO": 0.12,
    "ECARO": 0.12,
    "ESARO": 0.15,
    "LACRO": 0.12,
    "MENARO": 0.11,
    "ROSA": 0.11,
    "WCARO": 0.14,
    INTERNATIONAL: 0.13,
}

# --- expertise ----------------------------------------------------------------------------------

# Experts cluster in a domain; some domains are much more common among practitioners.
DOMAIN_WEIGHTS: dict[str, float] = {
    "policy_governance": 1.0,
    "criminal_justice": 1.3,
    "victim": 1.3,
    "societal": 1.0,
    "industry": 0.6,
    "media_communications": 0.5,
}

ROLES: dict[str, tuple[str, ...]] = {
    "policy_governance": (
        "Child protection policy specialist",
        "Public policy adviser on child online safety",
        "Research and evaluation specialist",
        "Legal reform adviser",
    ),
    "criminal_justice": (
        "Former police investigator",
        "Public prosecutor",
        "Digital forensics specialist",
        "Criminal justice reform adviser",
        "Judicial trainer",
    ),
    "victim": (
        "Clinical social worker",
        "Child protection case management specialist",
        "Psychologist specialising in child trauma",
        "Child helpline manager",
    ),
    "societal": (
        "Prevention and education specialist",
        "Hotline analyst and manager",
        "Child participation facilitator",
        "Public health specialist in abuse prevention",
    ),
    "industry": (
        "Trust and safety specialist",
        "Online safety policy lead",
        "Technology and child rights adviser",
    ),
    "media_communications": (
        "Communications specialist",
        "Journalist and media trainer",
        "Advocacy and terminology adviser",
    ),
}

FOCUS: dict[int, str] = {
    1: "national coordination and governance of the OCSEA response",
    2: "research, data analysis and monitoring of online child sexual exploitation",
    3: "drafting and review of OCSEA legislation",
    4: "specialised law enforcement units and online investigations",
    5: "training of judges and prosecutors in child-friendly justice",
    6: "offender management and risk assessment",
    7: "victim identification and image databases (ICSE)",
    8: "end-to-end support services for child victims",
    9: "child protection workforce development and case management",
    10: "compensation, remedies and complaints mechanisms for children",
    11: "child helpline services and referral",
    12: "CSEA hotlines and notice handling",
    13: "school and community education programmes",
    14: "meaningful child and youth participation",
    15: "prevention programmes for people at risk of offending",
    16: "notice-and-takedown procedures with platforms",
    17: "industry reporting of CSEA to authorities",
    18: "safety-by-design and innovative technical solutions",
    19: "corporate social responsibility and child rights in business",
    20: "ethical and informed media reporting on child abuse",
    21: "the Terminology Guidelines and consistent public language",
}

CLOSINGS = (
    "Has worked with governments, UNICEF country offices and civil society partners.",
    "Experienced trainer and facilitator of multi-stakeholder workshops.",
    "Has supported national assessments against the Model National Response.",
    "Regularly advises ministries on child online protection.",
    "Brings field experience from fragile and humanitarian settings.",
    "Has designed and delivered training curricula for practitioners.",
)

# Levels concentrate on 2–3: 4 (leading expert) is rare, 1 mostly outside the expert's domain.
LEVEL_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "primary": (1.0, 3.0, 4.0, 2.0),
    "secondary": (2.0, 4.0, 3.0, 1.0),
    "other": (4.0, 4.0, 1.5, 0.0),
}

# --- requests -----------------------------------------------------------------------------------


class Assignment(NamedTuple):
    """A kind of technical assistance a country office asks for."""

    title: str
    description: str
    required: tuple[int, ...]
    desired: tuple[int, ...]
    deliverables: str


ASSIGNMENTS: tuple[Assignment, ...] = (
    Assignment(
        "Review draft OCSEA legislation",
        "The Ministry of Justice of {country} has drafted amendments to the penal code and child "
        "protection law covering online child sexual exploitation and abuse. UNICEF seeks an "
        "expert to review the draft against international standards and the Model National "
        "Response, and to facilitate consultations with parliamentarians and civil society.",
        (3,),
        (5, 1),
        "a legal gap analysis, an annotated draft and a consultation report",
    ),
    Assignment(
        "Set up a victim identification unit",
        "The national police of {country} plan a specialised unit to identify children depicted "
        "in abuse material and to connect to the INTERPOL ICSE database. The expert will assess "
        "readiness, design the unit's procedures and train its first analysts.",
        (7, 4),
        (8,),
        "a readiness assessment, standard operating procedures and a training plan",
    ),
    Assignment(
        "Design a CSEA hotline referral pathway",
        "{country} is establishing a hotline where the public can report child sexual abuse "
        "material. The expert will design the pathway from report to takedown and to law "
        "enforcement and victim services, in line with INHOPE practice.",
        (12,),
        (16, 8),
        "a referral pathway, data-sharing agreements and hotline procedures",
    ),
    Assignment(
        "Train prosecutors on digital evidence",
        "Prosecutors in {country} rarely bring OCSEA cases to trial because digital evidence is "
        "collected or presented poorly. The expert will adapt and deliver training on handling "
        "digital evidence and on child-friendly procedures in court.",
        (5,),
        (4, 6),
        "a training curriculum, two workshops and a pool of national trainers",
    ),
    Assignment(
        "Strengthen the child helpline's response to online abuse",
        "The national child helpline of {country} receives a growing number of calls about online "
        "abuse. The expert will review its protocols, train counsellors and strengthen referrals "
        "to health, social and justice services.",
        (11,),
        (8, 9),
        "revised protocols, a counsellor training package and a referral map",
    ),
    Assignment(
        "Develop a national OCSEA prevention education programme",
        "The Ministry of Education of {country} wants age-appropriate content on online safety "
        "and sexual abuse prevention in the school curriculum. The expert will review existing "
        "materials and co-design a programme with teachers, parents and children.",
        (13,),
        (14,),
        "a programme framework, lesson plans and a teacher guide",
    ),
    Assignment(
        "Assess the national response against the Model National Response",
        "UNICEF and the government of {country} will take stock of the national response to "
        "online child sexual exploitation. The expert will lead a capability assessment across "
        "all domains of the Model National Response and propose priorities.",
        (2, 1),
        (3,),
        "an assessment report, a validation workshop and a costed roadmap",
    ),
    Assignment(
        "Build social workforce capacity on OCSEA case management",
        "Social workers in {country} lack guidance on cases of online sexual exploitation. The "
        "expert will develop case management guidance and train supervisors who will cascade it "
        "to district teams.",
        (9, 8),
        (11,),
        "case management guidance, a training of trainers and supervision tools",
    ),
    Assignment(
        "Engage the ICT industry on takedown and reporting",
        "Internet service providers and platforms operating in {country} have no common procedure "
        "for removing abuse material or reporting it to the authorities. The expert will broker a "
        "code of practice with industry, the regulator and law enforcement.",
        (16, 17),
        (19,),
        "an industry code of practice and a reporting protocol",
    ),
    Assignment(
        "Train journalists on ethical reporting of child sexual abuse",
        "Media coverage of abuse cases in {country} often identifies child victims. The expert "
        "will train journalists and editors on ethical reporting and help the press council adopt "
        "guidelines.",
        (20,),
        (21,),
        "a training module, two workshops and draft media guidelines",
    ),
    Assignment(
        "Establish a national OCSEA coordination body",
        "The government of {country} has committed to a multi-stakeholder body that steers the "
        "national response. The expert will advise on its mandate, membership and work plan.",
        (1,),
        (2, 3),
        "terms of reference for the body and its first annual work plan",
    ),
    Assignment(
        "Involve children in the national OCSEA strategy",
        "The national strategy on child online protection of {country} is being revised. The "
        "expert will design and facilitate a safe, ethical consultation with children and young "
        "people and feed the results into the strategy.",
        (14,),
        (13,),
        "a consultation methodology, safeguarding plan and a summary report",
    ),
    Assignment(
        "Develop compensation and remedy mechanisms for child victims",
        "Child victims of online abuse in {country} rarely receive compensation. The expert will "
        "map the existing remedies and propose accessible complaint and compensation mechanisms.",
        (10,),
        (3, 8),
        "a mapping report and policy options for the Ministry of Justice",
    ),
    Assignment(
        "Set up a prevention programme for people at risk of offending",
        "{country} wants to pilot a confidential support service for people concerned about their "
        "sexual interest in children. The expert will adapt proven models to the national context.",
        (15,),
        (6, 13),
        "a service model, staff competencies and a pilot evaluation plan",
    ),
    Assignment(
        "Review offender management arrangements",
        "The probation and prison services of {country} seek advice on managing people convicted "
        "of online child sexual offences, including risk assessment and supervision.",
        (6,),
        (5, 15),
        "a review of current practice and recommendations for reform",
    ),
    Assignment(
        "Pilot a safety-by-design challenge with local technology firms",
        "UNICEF {country} will run an innovation challenge for local start-ups to build child "
        "safety into their products. The expert will design the challenge and mentor teams.",
        (18,),
        (19, 16),
        "a challenge design, judging criteria and mentoring sessions",
    ),
    Assignment(
        "Adapt the Terminology Guidelines for national use",
        "Officials and media in {country} use inconsistent and harmful terms for child sexual "
        "exploitation. The expert will adapt the Luxembourg Terminology Guidelines into the "
        "national language and build consensus on their use.",
        (21,),
        (20,),
        "an adapted glossary and an endorsement workshop",
    ),
    Assignment(
        "Analyse national data on online child sexual exploitation",
        "{country} holds data on OCSEA from police, helplines and surveys that has never been "
        "analysed together. The expert will consolidate the data and produce a situation analysis.",
        (2,),
        (17,),
        "a data inventory, a situation analysis and a monitoring framework",
    ),
)

# Programme countries that file requests: (working language, local languages desired).
REQUEST_COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "KEN": ("en", ("sw",)),
    "UGA": ("en", ()),
    "NGA": ("en", ("ha", "yo")),
    "GHA": ("en", ()),
    "PHL": ("en", ("fil",)),
    "KHM": ("en", ("km",)),
    "VNM": ("en", ("vi",)),
    "MAR": ("fr", ("ar",)),
    "JOR": ("en", ("ar",)),
    "ALB": ("en", ("sq",)),
    "MDA": ("en", ("ro", "ru")),
    "PER": ("es", ()),
    "COL": ("es", ()),
    "BGD": ("en", ("bn",)),
    "NPL": ("en", ("ne",)),
    "SEN": ("fr", ("wo",)),
    "MOZ": ("pt", ()),
}

# Every status here occurs at least once when there are enough requests; "cancelled" is left
# out because demo data should show requests in their ordinary life cycle.
REQUEST_STATUS_WEIGHTS: dict[RequestStatus, float] = {
    "draft": 2.0,
    "submitted": 3.0,
    "in_review": 3.0,
    "matched": 2.0,
    "fulfilled": 1.0,
    "closed": 1.0,
    "withdrawn": 0.5,
    "rejected": 0.5,
}


# --- helpers ------------------------------------------------------------------------------------

_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "ß": "ss", "æ": "ae", "ł": "l", "ı": "i"})


def slug(text: str) -> str:
    """ASCII e-mail part of a name: `Nguyễn` → `nguyen`, `O'Brien` → `obrien`."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore")
    lowered = ascii_text.decode("ascii").lower().replace("'", "")
    return re.sub(r"[^a-z]+", "-", lowered).strip("-")


def weekdays_between(start: date, end: date) -> int:
    """Monday–Friday days from start to end, both included."""
    return sum(
        1 for offset in range((end - start).days + 1) if (start + timedelta(days=offset)).weekday() < 5
    )


def country_display_name(iso3: str) -> str:
    """`Moldova, Republic of` → `Republic of Moldova`, for use in running text."""
    name = countries()[iso3]
    if ", " in name:
        head, tail = name.split(", ", 1)
        return f"{tail} {head}"
    return name


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _sample_weighted(rng: random.Random, weights: dict[int, float], k: int) -> list[int]:
    """k distinct keys, each draw proportional to the remaining weights."""
    remaining = {key: weight for key, weight in weights.items() if weight > 0}
    chosen: list[int] = []
    while remaining and len(chosen) < k:
        keys = list(remaining)
        key = rng.choices(keys, weights=[remaining[x] for x in keys])[0]
        chosen.append(key)
        del remaining[key]
    return chosen


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _domains() -> dict[str, list[int]]:
    members: dict[str, list[int]] = {}
    for capability in capabilities():
        members.setdefault(capability.domain_code, []).append(capability.number)
    return members


def _region_names() -> dict[str, str]:
    return {region.code: region.name for region in regions()}


def _homes(group: str) -> list[str]:
    return sorted({iso3 for culture, _ in CULTURES[group].values() for iso3 in culture.homes})


# --- experts ------------------------------------------------------------------------------------


def _name(rng: random.Random, culture: Culture, female: bool) -> tuple[str, str, str]:
    """(full name, given-name part, family-name part) of the e-mail address."""
    given = rng.choice(culture.female if female else culture.male)
    forms = rng.choice(culture.surnames).split("/")
    family = forms[-1] if female else forms[0]
    email_family = family
    if rng.random() < culture.double_surname:
        # Two family names (father's, then mother's); the address uses the first.
        second = rng.choice([s for s in culture.surnames if s != family]).split("/")[0]
        family = f"{family} {second}"
    full = f"{family} {given}" if culture.family_first else f"{given} {family}"
    return full, given, email_family


def _languages(rng: random.Random, culture: Culture, home: str) -> list[ExpertLanguage]:
    mother_tongues = culture.homes[home]
    # The first listed mother tongue is the most common one in that country.
    weights = [3.0] + [1.0] * (len(mother_tongues) - 1)
    mother = rng.choices(mother_tongues, weights=weights)[0]
    languages: list[ExpertLanguage] = [{"tag": mother, "level": CEFR.C2.value}]
    for tag, probability, levels in culture.extras:
        if tag != mother and rng.random() < probability:
            languages.append({"tag": tag, "level": rng.choice(levels).value})
    return languages


def _capabilities(rng: random.Random, years: int) -> tuple[list[ExpertCapability], str]:
    """The expert's capabilities and main domain, clustered in one or two domains."""
    domains = _domains()
    primary = _pick(rng, DOMAIN_WEIGHTS)
    secondary: str | None = None
    if rng.random() < 0.65:
        secondary = _pick(rng, {d: w for d, w in DOMAIN_WEIGHTS.items() if d != primary})
    tier = {capability.number: "other" for capability in capabilities()}
    tier.update(dict.fromkeys(domains.get(secondary or "", []), "secondary"))
    tier.update(dict.fromkeys(domains[primary], "primary"))
    draw_weight = {"primary": 6.0, "secondary": 3.0, "other": 0.4}
    count = rng.choices([2, 3, 4, 5, 6, 7], weights=[2, 4, 4, 3, 2, 1])[0]
    chosen = _sample_weighted(rng, {n: draw_weight[tier[n]] for n in tier}, count)
    result: list[ExpertCapability] = []
    for number in sorted(chosen):
        level = rng.choices([1, 2, 3, 4], weights=LEVEL_WEIGHTS[tier[number]])[0]
        if years < 10:
            # Nobody is a leading expert after only a few years in the field.
            level = min(level, 3)
        result.append({"capability": number, "level": level})
    return result, primary


def _summary(
    rng: random.Random, primary: str, years: int, caps: list[ExpertCapability], group: str, country_count: int
) -> str:
    role = rng.choice(ROLES[primary])
    strongest = sorted(caps, key=lambda c: (-c["level"], c["capability"]))[:3]
    areas = [FOCUS[c["capability"]] for c in strongest]
    focus = areas[0] if len(areas) == 1 else f"{', '.join(areas[:-1])} and {areas[-1]}"
    if group == INTERNATIONAL:
        where = f"in {country_count} programme countr{'y' if country_count == 1 else 'ies'}"
    else:
        where = f"mostly in {_region_names()[group]}"
    return (
        f"{role} with {years} years of experience, {where}. Main areas of work: {focus}. "
        f"{rng.choice(CLOSINGS)}"
    )


def _vetting(rng: random.Random, status: ExpertStatus, today: date) -> Vetting:
    def before(max_days: int, min_days: int = 7) -> str:
        return (today - timedelta(days=rng.randint(min_days, max_days))).isoformat()

    if status == "active":
        return {
            "references_checked_on": before(3 * 365, 30),
            "safeguarding_check_on": before(2 * 365),
            "bsafe_completed_on": before(3 * 365),
        }
    if status == "applicant":
        # Applicants are still being vetted: references usually come back first.
        references = before(60, 1) if rng.random() < 0.5 else None
        return {
            "references_checked_on": references,
            "safeguarding_check_on": None,
            "bsafe_completed_on": None,
        }
    if status == "suspended":
        return {
            "references_checked_on": before(5 * 365, 365),
            "safeguarding_check_on": before(4 * 365, 180),
            "bsafe_completed_on": before(4 * 365, 180),
        }
    return {
        "references_checked_on": before(6 * 365, 365),
        "safeguarding_check_on": before(5 * 365, 365) if rng.random() < 0.7 else None,
        "bsafe_completed_on": before(5 * 365, 365) if rng.random() < 0.7 else None,
    }


def _unavailability(rng: random.Random, today: date) -> list[Period]:
    """About a quarter of experts have 1–3 blocked periods within the next six months."""
    if rng.random() >= 0.25:
        return []
    horizon = today + timedelta(days=182)
    periods: list[Period] = []
    cursor = today
    for _ in range(rng.randint(1, 3)):
        start = cursor + timedelta(days=rng.randint(2, 50))
        if start > horizon:
            break
        end = min(start + timedelta(days=rng.randint(2, 21)), horizon)
        periods.append({"start": start.isoformat(), "end": end.isoformat()})
        cursor = end
    return periods


def _experience(rng: random.Random, group: str, residence: str) -> list[str]:
    count = rng.choices([1, 2, 3, 4, 5, 6], weights=[2, 3, 3, 2, 1, 1])[0]
    all_homes = [iso3 for g in CULTURES if g != INTERNATIONAL for iso3 in _homes(g)]
    picked: set[str] = set()
    if region_of(residence) is not None and rng.random() < 0.85:
        picked.add(residence)
    if group == INTERNATIONAL:
        focus_groups = rng.sample([g for g in CULTURES if g != INTERNATIONAL], k=2)
        local = [iso3 for g in focus_groups for iso3 in _homes(g)]
    else:
        local = _homes(group)
    while len(picked) < count:
        # Mostly in the expert's own region; occasionally further afield.
        pool = local if rng.random() < 0.8 else all_homes
        picked.add(rng.choice(pool))
    return sorted(picked)


def generate_experts(rng: random.Random, n: int, today: date) -> list[Expert]:
    """n synthetic experts; deterministic for a given rng state and today."""
    international_homes = _homes(INTERNATIONAL)
    experts: list[Expert] = []
    for index in range(1, n + 1):
        group = _pick(rng, GROUP_WEIGHTS)
        culture_key = _pick(rng, {key: weight for key, (_, weight) in CULTURES[group].items()})
        culture = CULTURES[group][culture_key][0]
        home = rng.choice(sorted(culture.homes))
        nationalities = [home]
        if rng.random() < 0.06:
            # Dual nationals, mostly diaspora with a second passport from abroad.
            second = rng.choice([c for c in international_homes + _homes(group) if c != home])
            nationalities.append(second)
        residence = home
        if group == INTERNATIONAL and rng.random() < 0.25:
            # International experts based in a programme country, often near a regional office.
            residence = rng.choice(_homes(rng.choice([g for g in CULTURES if g != INTERNATIONAL])))
        elif group != INTERNATIONAL and rng.random() < 0.12:
            residence = rng.choice(_homes(group))

        gender_roll = rng.random()
        female = gender_roll < 0.58
        gender: str | None = "female" if female else "male"
        if gender_roll > 0.96:
            gender = None  # not disclosed
        full_name, given, family = _name(rng, culture, female)
        years = max(3, min(30, round(rng.triangular(3, 30, 9))))
        caps, primary = _capabilities(rng, years)
        country_experience = _experience(rng, group, residence)
        status = rng.choices(EXPERT_STATUSES, weights=[80, 10, 7, 3])[0]
        # Rates follow seniority; international consultants charge more.
        rate = 220 + 18 * years + rng.gauss(0, 60) + (120 if group == INTERNATIONAL else 0)
        amount = int(max(250, min(900, round(rate / 10) * 10)))
        modality = rng.choices(MODALITIES, weights=[3, 2, 5])[0]
        phone = (
            "+" + str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(7, 11)))
        )
        experts.append(
            {
                "id": _uuid(rng),
                "full_name": full_name,
                "email": f"{slug(given)}.{slug(family)}+{index}@{EMAIL_DOMAIN}",
                "phone": phone,
                "nationalities": nationalities,
                "residence_country": residence,
                "gender": gender,
                "summary": _summary(rng, primary, years, caps, group, len(country_experience)),
                "years_experience": years,
                "daily_rate": {"amount": amount, "currency": "USD"},
                "modality": modality,
                "status": status,
                "capabilities": caps,
                "languages": _languages(rng, culture, home),
                "country_experience": country_experience,
                "vetting": _vetting(rng, status, today),
                "unavailability": _unavailability(rng, today),
            }
        )
    return experts


# --- requests -----------------------------------------------------------------------------------


def _cycle(rng: random.Random, items: Sequence[Any], n: int) -> list[Any]:
    """n items: every item once per shuffled round, so small samples stay varied."""
    result: list[Any] = []
    while len(result) < n:
        round_ = list(items)
        rng.shuffle(round_)
        result.extend(round_)
    return result[:n]


def _request_statuses(rng: random.Random, n: int) -> list[RequestStatus]:
    statuses: list[RequestStatus] = list(REQUEST_STATUS_WEIGHTS)[:n]
    weights = list(REQUEST_STATUS_WEIGHTS.values())
    statuses += rng.choices(list(REQUEST_STATUS_WEIGHTS), weights=weights, k=n - len(statuses))
    rng.shuffle(statuses)
    return statuses


def generate_requests(rng: random.Random, n: int, today: date) -> list[AssistanceRequest]:
    """n synthetic technical-assistance requests, numbered TA-<year of today>-0001 onwards."""
    assignments: list[Assignment] = _cycle(rng, ASSIGNMENTS, n)
    country_codes: list[str] = _cycle(rng, sorted(REQUEST_COUNTRIES), n)
    statuses = _request_statuses(rng, n)
    next_monday = today + timedelta(days=7 - today.weekday())
    requests: list[AssistanceRequest] = []
    for index in range(n):
        assignment, country, status = assignments[index], country_codes[index], statuses[index]
        priority = rng.choices(PRIORITIES, weights=[15, 50, 25, 10])[0]
        # Urgent requests start soon; the others are planned weeks to months ahead.
        weeks_ahead = rng.randint(1, 3) if priority == "urgent" else rng.randint(1, 19)
        start = next_monday + timedelta(weeks=weeks_ahead)
        weeks = rng.randint(2, 12)
        end = start + timedelta(weeks=weeks, days=-3)  # the Friday of the last week
        weekdays = weekdays_between(start, end)
        # Consultancies are part-time over their window, but rarely below a working week.
        effort = min(weekdays, max(5, math.floor(weekdays * rng.uniform(0.35, 0.9))))
        modality = rng.choices(MODALITIES, weights=[3, 3, 4])[0]
        working, local = REQUEST_COUNTRIES[country]
        languages: list[RequiredLanguage] = [
            {"tag": working, "min_level": rng.choice(["B2", "C1", "C1"]), "importance": "required"}
        ]
        if working != "en":
            languages.append({"tag": "en", "min_level": "B2", "importance": "desired"})
        for tag in local:
            if rng.random() < 0.6:
                languages.append({"tag": tag, "min_level": rng.choice(["B1", "B2"]), "importance": "desired"})
        caps: list[RequiredCapability] = [
            {
                "capability": number,
                "min_level": rng.choices([2, 3, 4], weights=[2, 5, 2])[0],
                "importance": "required",
            }
            for number in assignment.required
        ]
        caps += [
            {"capability": number, "min_level": rng.choice([1, 2, 2, 3]), "importance": "desired"}
            for number in assignment.desired
        ]
        name = country_display_name(country)
        where = {"remote": "remotely", "in_country": f"in {name}", "either": f"remotely or in {name}"}[
            modality
        ]
        description = (
            f"{assignment.description.format(country=name)} Expected deliverables: "
            f"{assignment.deliverables}. The assignment is {effort} working days between "
            f"{start.isoformat()} and {end.isoformat()}, {where}."
        )
        requests.append(
            {
                "reference": f"TA-{today.year}-{index + 1:04d}",
                "country": country,
                "office": country,
                "title": assignment.title,
                "description": description,
                "capabilities": caps,
                "languages": languages,
                "modality": modality,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "effort_days": effort,
                "priority": priority,
                "nationality_preference": rng.choices(NATIONALITY_PREFERENCES, weights=[6, 2, 2])[0],
                "status": status,
            }
        )
    return requests


# --- output -------------------------------------------------------------------------------------


def check_records(experts: Sequence[Expert], requests: Sequence[AssistanceRequest]) -> None:
    """Fail loudly if a table above produced a record the APIs would reject."""
    for expert in experts:
        for code in [*expert["nationalities"], expert["residence_country"], *expert["country_experience"]]:
            validate_country(code)
        tags = [language["tag"] for language in expert["languages"]]
        _check_tags(tags)
    for request in requests:
        validate_country(request["country"])
        validate_country(request["office"])
        _check_tags([language["tag"] for language in request["languages"]])


def _check_tags(tags: Sequence[str]) -> None:
    for tag in tags:
        if normalize_language(tag) != tag:
            raise ValueError(f"language tag {tag!r} is not in its standard form")


def dumps(records: object) -> bytes:
    return (json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _write_atomically(path: Path, data: bytes) -> None:
    # A crash mid-write must not leave a half file that a later run mistakes for demo data.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _manifest(seed: int, today: date, n_experts: int, n_requests: int) -> dict[str, Any]:
    return {
        "generator": "mnr-seed",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "today": today.isoformat(),
        "counts": {"experts": n_experts, "requests": n_requests},
    }


def _existing(out: Path, wanted: dict[str, Any]) -> str:
    """'same' when out already holds exactly the wanted data, 'other' or 'none' otherwise."""
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "none"
    if not isinstance(manifest, dict):
        return "other"
    files = manifest.get("files", {})
    for name in (EXPERTS_FILE, REQUESTS_FILE):
        try:
            digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        except OSError:
            return "other"
        if not isinstance(files, dict) or files.get(name) != digest:
            return "other"
    same = all(manifest.get(key) == value for key, value in wanted.items())
    return "same" if same else "other"


def _summary_lines(experts: Sequence[Expert], requests: Sequence[AssistanceRequest]) -> list[str]:
    def fmt(values: Iterable[str]) -> str:
        return ", ".join(f"{key} {count}" for key, count in sorted(Counter(values).items()))

    request_countries = sorted({r["country"] for r in requests})
    return [
        "experts by region of residence: "
        + fmt(region_of(e["residence_country"]) or INTERNATIONAL for e in experts),
        f"experts by status: {fmt(e['status'] for e in experts)}",
        f"requests by status: {fmt(r['status'] for r in requests)}",
        f"requests from {len(request_countries)} countries: {', '.join(request_countries)}",
    ]


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-28") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seed.py",
        description="Generate deterministic synthetic experts and assistance requests for demos.\n\n"
        "Writes experts.json, requests.json and manifest.json into --out. Does nothing when\n"
        "--out already holds the data for the same seed, counts and --today, so it is safe\n"
        "to run on every start; --force regenerates anyway.",
        epilog="examples:\n"
        "  python deploy/seed.py                    # 300 experts and 20 requests into var/demo\n"
        "  python deploy/seed.py --seed 7 --out var/demo-7\n"
        "  python deploy/seed.py --experts 50 --requests 5 --today 2027-03-01 --force\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed; the same seed gives identical files (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--experts",
        type=_non_negative,
        default=DEFAULT_EXPERTS,
        help=f"number of experts (default {DEFAULT_EXPERTS})",
    )
    parser.add_argument(
        "--requests",
        type=_non_negative,
        default=DEFAULT_REQUESTS,
        help=f"number of assistance requests (default {DEFAULT_REQUESTS})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory, created if missing (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--today",
        type=_iso_date,
        default=DEFAULT_TODAY,
        help="date all generated dates are relative to (default "
        f"{DEFAULT_TODAY.isoformat()}); not the real date, so output "
        "stays reproducible",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if the output already exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    seed: int = args.seed
    today: date = args.today
    wanted = _manifest(seed, today, args.experts, args.requests)
    state = _existing(out, wanted)
    if state == "same" and not args.force:
        print(
            f"seed: {out} already holds demo data for seed {seed} ({args.experts} experts, "
            f"{args.requests} requests); nothing to do (use --force to regenerate)"
        )
        return 0
    if state == "other":
        print(f"seed: replacing the demo data in {out} (other seed, counts or version, or edited)")

    print(
        f"seed: generating {args.experts} experts and {args.requests} requests "
        f"(seed {seed}, today {today.isoformat()})"
    )
    rng = random.Random(seed)
    experts = generate_experts(rng, args.experts, today)
    requests = generate_requests(rng, args.requests, today)
    check_records(experts, requests)

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for name, records in ((EXPERTS_FILE, experts), (REQUESTS_FILE, requests)):
        data = dumps(records)
        _write_atomically(out / name, data)
        files[name] = hashlib.sha256(data).hexdigest()
        print(f"seed: wrote {out / name} ({len(records)} records)")
    # The manifest goes last: its presence means both data files are complete.
    _write_atomically(out / MANIFEST_FILE, dumps({**wanted, "files": files}))
    for line in _summary_lines(experts, requests):
        print(f"seed: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
