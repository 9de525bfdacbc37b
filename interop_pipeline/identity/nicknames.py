"""Common English and Spanish given-name nicknames: formal name → the short forms people go by.

Used both ways: the generator writes a nickname where a system holds one, and the matcher reduces
every given name to its formal form before comparing (`canonical_given_name`). A district may
meet others; adding a pair here is the whole change. A short form that is also a given name in
its own right (Liam, Theo, Jack, Lily, Sophie) is deliberately left out: Liam and William are
different children more often than the same one.
"""

from __future__ import annotations

NICKNAMES: dict[str, tuple[str, ...]] = {
    "abigail": ("abby", "abbie"),
    "alexander": ("alex", "xander"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony",),
    "benjamin": ("ben", "benny"),
    "caroline": ("carrie",),
    "charles": ("charlie", "chuck"),
    "charlotte": ("charlie", "lottie"),
    "christopher": ("chris",),
    "christian": ("chris",),
    "daniel": ("dan", "danny"),
    "daniela": ("dani",),
    "david": ("dave",),
    "eleanor": ("nell",),
    "elizabeth": ("liz", "beth", "lizzie"),
    "emily": ("em",),
    "ezekiel": ("zeke",),
    "gabriel": ("gabe",),
    "gabriella": ("gabby",),
    "guadalupe": ("lupe",),
    "isabella": ("bella", "izzy"),
    "isaac": ("ike",),
    "jacob": ("jake",),
    "james": ("jim", "jimmy", "jamie"),
    "jeremiah": ("jerry",),
    "john": ("johnny",),
    "jonathan": ("jon", "jonny"),
    "jose": ("pepe",),
    "joseph": ("joe", "joey"),
    "josephine": ("josie",),
    "joshua": ("josh",),
    "leonardo": ("leon",),
    "lillian": ("lil",),
    "madeline": ("maddie",),
    "madelyn": ("maddie",),
    "madison": ("maddie",),
    "matthew": ("matt",),
    "michael": ("mike", "mikey"),
    "natalie": ("nat",),
    "nathan": ("nate",),
    "nicholas": ("nick",),
    "olivia": ("liv",),
    "penelope": ("penny",),
    "robert": ("bob", "rob", "bobby"),
    "samuel": ("sam", "sammy"),
    "santiago": ("santi",),
    "sebastian": ("seb",),
    "theodore": ("ted", "teddy"),
    "thomas": ("tom", "tommy"),
    "valentina": ("vale",),
    "victoria": ("vicky", "tori"),
    "william": ("bill", "will", "billy"),
    "zachary": ("zach",),
}

# Short form → formal form; a short form shared by two formal names (chris, maddie) maps to the
# first listed, which is enough to make the two spellings compare equal.
_FORMAL: dict[str, str] = {}
for _formal, _shorts in NICKNAMES.items():
    for _short in _shorts:
        _FORMAL.setdefault(_short, _formal)


def canonical_given_name(name: str) -> str:
    """The formal form of a lower-case given name (itself when it is not a known nickname)."""
    return _FORMAL.get(name, name)


def nickname_pairs() -> list[tuple[str, str]]:
    """(nickname, formal) rows, for a lookup table in SQL."""
    return sorted(_FORMAL.items())
