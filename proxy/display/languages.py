"""The words of the annotation line, one `Language` per language code.

Adding a language is adding one entry to `LANGUAGES`: every phrase takes its number
(already formatted, with its unit) through `{}`. Unit symbols (Wh, g, mL, km) are SI
and the same everywhere; time units and the decimal mark are per language.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    decimal: str  # decimal mark: "." or ","
    percent: str  # how a percentage is written, e.g. "{}%" or "{} %"
    water: str  # "{} water"
    emissions: str  # "{} CO₂e"
    conversation: str  # "this conversation: {}"
    seconds: str
    minutes: str
    hours: str
    days: str
    smartphone_share: str  # a share of one charge: "{} of a smartphone charge"
    smartphone_one: str  # exactly one charge
    smartphone_many: str  # "{} smartphone charges"
    led_bulb: str  # "{} of an LED bulb" ({} is a duration)
    car: str  # "{} by car" ({} is a distance)
    water_intake: str  # "{} of an adult's water intake" ({} is a duration)


LANGUAGES: dict[str, Language] = {
    "en": Language(
        decimal=".",
        percent="{}%",
        water="{} water",
        emissions="{} CO₂e",
        conversation="this conversation: {}",
        seconds="{} s",
        minutes="{} min",
        hours="{} h",
        days="{} days",
        smartphone_share="{} of a smartphone charge",
        smartphone_one="{} smartphone charge",
        smartphone_many="{} smartphone charges",
        led_bulb="{} of an LED bulb",
        car="{} by car",
        water_intake="{} of an adult's water intake",
    ),
    "fr": Language(
        decimal=",",
        percent="{}\u202f%",
        water="{} d'eau",
        emissions="{} CO₂e",
        conversation="cette conversation\u202f: {}",
        seconds="{} s",
        minutes="{} min",
        hours="{} h",
        days="{} jours",
        smartphone_share="{} d'une recharge de smartphone",
        smartphone_one="{} recharge de smartphone",
        smartphone_many="{} recharges de smartphone",
        led_bulb="{} d'ampoule LED",
        car="{} en voiture",
        water_intake="{} de l'apport en eau d'un adulte",
    ),
    "de": Language(
        decimal=",",
        percent="{}\u00a0%",
        water="{} Wasser",
        emissions="{} CO₂e",
        conversation="dieses Gespräch: {}",
        seconds="{} s",
        minutes="{} Min.",
        hours="{} Std.",
        days="{} Tage",
        smartphone_share="{} einer Smartphone-Ladung",
        smartphone_one="{} Smartphone-Ladung",
        smartphone_many="{} Smartphone-Ladungen",
        led_bulb="{} einer LED-Lampe",
        car="{} mit dem Auto",
        water_intake="{} des Wasserbedarfs eines Erwachsenen",
    ),
}
