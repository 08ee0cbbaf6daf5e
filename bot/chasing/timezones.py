"""Xero's Windows-style organisation Timezone values mapped to IANA zones."""

from __future__ import annotations

import logging
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Every value of the TimeZone enum in xero_accounting.yaml, mapped mechanically through
# CLDR's windowsZones table (territory "001"): Xero upper-cases the Windows ID and drops
# spaces, dots and the minus sign ("UTC-02" becomes "UTC02"). Two IDs CLDR has retired
# are mapped by hand: Kamchatka to Asia/Kamchatka, Mid-Atlantic (UTC-2) to Etc/GMT+2.
XERO_TIMEZONES: dict[str, str] = {
    "AFGHANISTANSTANDARDTIME": "Asia/Kabul",
    "ALASKANSTANDARDTIME": "America/Anchorage",
    "ALEUTIANSTANDARDTIME": "America/Adak",
    "ALTAISTANDARDTIME": "Asia/Barnaul",
    "ARABIANSTANDARDTIME": "Asia/Dubai",
    "ARABICSTANDARDTIME": "Asia/Baghdad",
    "ARABSTANDARDTIME": "Asia/Riyadh",
    "ARGENTINASTANDARDTIME": "America/Buenos_Aires",
    "ASTRAKHANSTANDARDTIME": "Europe/Astrakhan",
    "ATLANTICSTANDARDTIME": "America/Halifax",
    "AUSCENTRALSTANDARDTIME": "Australia/Darwin",
    "AUSCENTRALWSTANDARDTIME": "Australia/Eucla",
    "AUSEASTERNSTANDARDTIME": "Australia/Sydney",
    "AZERBAIJANSTANDARDTIME": "Asia/Baku",
    "AZORESSTANDARDTIME": "Atlantic/Azores",
    "BAHIASTANDARDTIME": "America/Bahia",
    "BANGLADESHSTANDARDTIME": "Asia/Dhaka",
    "BELARUSSTANDARDTIME": "Europe/Minsk",
    "BOUGAINVILLESTANDARDTIME": "Pacific/Bougainville",
    "CANADACENTRALSTANDARDTIME": "America/Regina",
    "CAPEVERDESTANDARDTIME": "Atlantic/Cape_Verde",
    "CAUCASUSSTANDARDTIME": "Asia/Yerevan",
    "CENAUSTRALIASTANDARDTIME": "Australia/Adelaide",
    "CENTRALAMERICASTANDARDTIME": "America/Guatemala",
    "CENTRALASIASTANDARDTIME": "Asia/Bishkek",
    "CENTRALBRAZILIANSTANDARDTIME": "America/Cuiaba",
    "CENTRALEUROPEANSTANDARDTIME": "Europe/Warsaw",
    "CENTRALEUROPESTANDARDTIME": "Europe/Budapest",
    "CENTRALPACIFICSTANDARDTIME": "Pacific/Guadalcanal",
    "CENTRALSTANDARDTIME": "America/Chicago",
    "CENTRALSTANDARDTIME(MEXICO)": "America/Mexico_City",
    "CHATHAMISLANDSSTANDARDTIME": "Pacific/Chatham",
    "CHINASTANDARDTIME": "Asia/Shanghai",
    "CUBASTANDARDTIME": "America/Havana",
    "DATELINESTANDARDTIME": "Etc/GMT+12",
    "EAFRICASTANDARDTIME": "Africa/Nairobi",
    "EASTERISLANDSTANDARDTIME": "Pacific/Easter",
    "EASTERNSTANDARDTIME": "America/New_York",
    "EASTERNSTANDARDTIME(MEXICO)": "America/Cancun",
    "EAUSTRALIASTANDARDTIME": "Australia/Brisbane",
    "EEUROPESTANDARDTIME": "Europe/Chisinau",
    "EGYPTSTANDARDTIME": "Africa/Cairo",
    "EKATERINBURGSTANDARDTIME": "Asia/Yekaterinburg",
    "ESOUTHAMERICASTANDARDTIME": "America/Sao_Paulo",
    "FIJISTANDARDTIME": "Pacific/Fiji",
    "FLESTANDARDTIME": "Europe/Kiev",
    "GEORGIANSTANDARDTIME": "Asia/Tbilisi",
    "GMTSTANDARDTIME": "Europe/London",
    "GREENLANDSTANDARDTIME": "America/Godthab",
    "GREENWICHSTANDARDTIME": "Atlantic/Reykjavik",
    "GTBSTANDARDTIME": "Europe/Bucharest",
    "HAITISTANDARDTIME": "America/Port-au-Prince",
    "HAWAIIANSTANDARDTIME": "Pacific/Honolulu",
    "INDIASTANDARDTIME": "Asia/Calcutta",
    "IRANSTANDARDTIME": "Asia/Tehran",
    "ISRAELSTANDARDTIME": "Asia/Jerusalem",
    "JORDANSTANDARDTIME": "Asia/Amman",
    "KALININGRADSTANDARDTIME": "Europe/Kaliningrad",
    "KAMCHATKASTANDARDTIME": "Asia/Kamchatka",
    "KOREASTANDARDTIME": "Asia/Seoul",
    "LIBYASTANDARDTIME": "Africa/Tripoli",
    "LINEISLANDSSTANDARDTIME": "Pacific/Kiritimati",
    "LORDHOWESTANDARDTIME": "Australia/Lord_Howe",
    "MAGADANSTANDARDTIME": "Asia/Magadan",
    "MAGALLANESSTANDARDTIME": "America/Punta_Arenas",
    "MARQUESASSTANDARDTIME": "Pacific/Marquesas",
    "MAURITIUSSTANDARDTIME": "Indian/Mauritius",
    "MIDATLANTICSTANDARDTIME": "Etc/GMT+2",
    "MIDDLEEASTSTANDARDTIME": "Asia/Beirut",
    "MONTEVIDEOSTANDARDTIME": "America/Montevideo",
    "MOROCCOSTANDARDTIME": "Africa/Casablanca",
    "MOUNTAINSTANDARDTIME": "America/Denver",
    "MOUNTAINSTANDARDTIME(MEXICO)": "America/Mazatlan",
    "MYANMARSTANDARDTIME": "Asia/Rangoon",
    "NAMIBIASTANDARDTIME": "Africa/Windhoek",
    "NCENTRALASIASTANDARDTIME": "Asia/Novosibirsk",
    "NEPALSTANDARDTIME": "Asia/Katmandu",
    "NEWFOUNDLANDSTANDARDTIME": "America/St_Johns",
    "NEWZEALANDSTANDARDTIME": "Pacific/Auckland",
    "NORFOLKSTANDARDTIME": "Pacific/Norfolk",
    "NORTHASIAEASTSTANDARDTIME": "Asia/Irkutsk",
    "NORTHASIASTANDARDTIME": "Asia/Krasnoyarsk",
    "NORTHKOREASTANDARDTIME": "Asia/Pyongyang",
    "OMSKSTANDARDTIME": "Asia/Omsk",
    "PACIFICSASTANDARDTIME": "America/Santiago",
    "PACIFICSTANDARDTIME": "America/Los_Angeles",
    "PACIFICSTANDARDTIME(MEXICO)": "America/Tijuana",
    "PAKISTANSTANDARDTIME": "Asia/Karachi",
    "PARAGUAYSTANDARDTIME": "America/Asuncion",
    "QYZYLORDASTANDARDTIME": "Asia/Qyzylorda",
    "ROMANCESTANDARDTIME": "Europe/Paris",
    "RUSSIANSTANDARDTIME": "Europe/Moscow",
    "RUSSIATIMEZONE10": "Asia/Srednekolymsk",
    "RUSSIATIMEZONE11": "Asia/Kamchatka",
    "RUSSIATIMEZONE3": "Europe/Samara",
    "SAEASTERNSTANDARDTIME": "America/Cayenne",
    "SAINTPIERRESTANDARDTIME": "America/Miquelon",
    "SAKHALINSTANDARDTIME": "Asia/Sakhalin",
    "SAMOASTANDARDTIME": "Pacific/Apia",
    "SAOTOMESTANDARDTIME": "Africa/Sao_Tome",
    "SAPACIFICSTANDARDTIME": "America/Bogota",
    "SARATOVSTANDARDTIME": "Europe/Saratov",
    "SAWESTERNSTANDARDTIME": "America/La_Paz",
    "SEASIASTANDARDTIME": "Asia/Bangkok",
    "SINGAPORESTANDARDTIME": "Asia/Singapore",
    "SOUTHAFRICASTANDARDTIME": "Africa/Johannesburg",
    "SOUTHSUDANSTANDARDTIME": "Africa/Juba",
    "SRILANKASTANDARDTIME": "Asia/Colombo",
    "SUDANSTANDARDTIME": "Africa/Khartoum",
    "SYRIASTANDARDTIME": "Asia/Damascus",
    "TAIPEISTANDARDTIME": "Asia/Taipei",
    "TASMANIASTANDARDTIME": "Australia/Hobart",
    "TOCANTINSSTANDARDTIME": "America/Araguaina",
    "TOKYOSTANDARDTIME": "Asia/Tokyo",
    "TOMSKSTANDARDTIME": "Asia/Tomsk",
    "TONGASTANDARDTIME": "Pacific/Tongatapu",
    "TRANSBAIKALSTANDARDTIME": "Asia/Chita",
    "TURKEYSTANDARDTIME": "Europe/Istanbul",
    "TURKSANDCAICOSSTANDARDTIME": "America/Grand_Turk",
    "ULAANBAATARSTANDARDTIME": "Asia/Ulaanbaatar",
    "USEASTERNSTANDARDTIME": "America/Indianapolis",
    "USMOUNTAINSTANDARDTIME": "America/Phoenix",
    "UTC": "Etc/UTC",
    "UTC+12": "Etc/GMT-12",
    "UTC+13": "Etc/GMT-13",
    "UTC02": "Etc/GMT+2",
    "UTC08": "Etc/GMT+8",
    "UTC09": "Etc/GMT+9",
    "UTC11": "Etc/GMT+11",
    "VENEZUELASTANDARDTIME": "America/Caracas",
    "VLADIVOSTOKSTANDARDTIME": "Asia/Vladivostok",
    "VOLGOGRADSTANDARDTIME": "Europe/Volgograd",
    "WAUSTRALIASTANDARDTIME": "Australia/Perth",
    "WCENTRALAFRICASTANDARDTIME": "Africa/Lagos",
    "WESTASIASTANDARDTIME": "Asia/Tashkent",
    "WESTBANKSTANDARDTIME": "Asia/Hebron",
    "WESTPACIFICSTANDARDTIME": "Pacific/Port_Moresby",
    "WEUROPESTANDARDTIME": "Europe/Berlin",
    "WMONGOLIASTANDARDTIME": "Asia/Hovd",
    "YAKUTSKSTANDARDTIME": "Asia/Yakutsk",
    "YUKONSTANDARDTIME": "America/Whitehorse",
}

UTC_ZONE = ZoneInfo("UTC")
log = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def org_zone(xero_timezone: str | None) -> ZoneInfo:
    """The IANA zone for a Xero Timezone value (or an IANA name); UTC when unknown.

    An unknown value is logged once, naming it (the cache remembers the answer), so a new
    value in Xero's enum shows up in the log instead of silently shifting days to UTC.
    """
    if not xero_timezone:
        return UTC_ZONE
    key = xero_timezone.strip()
    name = XERO_TIMEZONES.get(key.upper().replace(" ", "").replace(".", "").replace("-", ""))
    if name is None and "/" in key:
        name = key  # already an IANA name, e.g. stored by hand
    try:
        if name:
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    log.warning("Unknown Xero Timezone %r: dates for this organisation are counted in UTC",
                xero_timezone)
    return UTC_ZONE
