"""Signals read from the customer's own words: asks for a human, how negative, how vague.

Deterministic and offline on purpose: the decision engine's override rules must behave the same
on every machine and be explainable to an agent ("the customer wrote 'agent please'"). English
only. Each function accepts any string (empty, huge, emoji, control characters) and never raises;
only the first `MAX_CHARS` characters are read, so the cost is bounded.

`negativity` is a small lexicon scorer in the spirit of VADER: weighted negative words and
phrases, intensifiers ("very", "so") that strengthen the next one, negations ("not", "never",
"n't") that flip the next three words, a bonus for shouting (ALL CAPS, "!!!"), profanity, and
threats to cancel, sue or charge back. The raw score `r` (positive words subtract) maps to
`1 - exp(-r / 4)`: one strong word ("furious") lands near 0.5, a threat to sue near 0.78, a
shouted, sworn complaint above 0.9. A plain problem report ("I can't log in, error 500") stays
near 0, because problems are what a help desk is for; only anger should move a ticket to people.
"""

from __future__ import annotations

import math
import re

MAX_CHARS = 20_000
SCALE = 4.0  # raw score at which negativity reaches 1 - 1/e (about 0.63)

# --- asking for a human ------------------------------------------------------------------------

_DET = r"(?:(?:a|an|the|some|your|any|one of your|real|live|actual|human|support|customer service|sales)\s+)*"
# Who counts as "a person" when the customer asks to talk to someone.
_ANYONE = (
    r"(?:humans?|human being|persons?|people|agents?|representatives?|reps?|operators?|someone|"
    r"somebody|anyone|anybody|staff(?: member)?|team members?|managers?|supervisors?|employees?|"
    r"support team|sales team|support staff)"
)
# The stricter set for "I want/need ...": "we need someone to fix this" is not a hand-off request.
_STRONG = (
    r"(?:humans?|human being|persons?|agents?|representatives?|operators?|staff member|"
    r"managers?|supervisors?)"
)
# What may follow the person, so "talk to the agent app" or "human resources" do not count.
_AFTER = (
    r"(?=\s*(?:$|[.!?,;:)]|\b(?:please|pls|plz|now|asap|instead|right|immediately|here|who|that|"
    r"about|regarding|on|for|from|in|at|with|and|or|because|since|as|not|today|thanks|thank|"
    r"rather|directly|"
    r"asap|if|so|to (?:help|look|review|check|call|contact|answer|respond|handle|sort|fix|deal))\b))"
)
_HUMAN_PATTERNS = [
    # "talk to a person", "speak with someone about billing", "chat with a live agent"
    rf"\b(?:talk|speak|chat|converse|communicate)\s+(?:to|with)\s+{_DET}{_ANYONE}{_AFTER}",
    # "transfer me to an agent", "connect me with a human", "put me through to someone"
    rf"\b(?:connect|transfer|put|pass|forward|escalate|hand|send|route)\s+"
    rf"(?:me|us|this|it|my (?:ticket|case|issue|request))\s+(?:through\s+|over\s+)?(?:to|with)\s+"
    rf"{_DET}{_ANYONE}{_AFTER}",
    # "I want a human", "we need to speak to an agent", "I'd like a real person"
    rf"\b(?:i|we)\s+(?:really\s+|just\s+|do\s+)?(?:want|need|would like|'d like|demand|request|"
    rf"prefer|insist on)\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?{_DET}{_STRONG}{_AFTER}",
    # "can I get a human", "could we have an agent please"
    rf"\b(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?(?:get|have)\s+{_DET}{_STRONG}{_AFTER}",
    rf"\b(?:get|give|find)\s+me\s+{_DET}{_STRONG}{_AFTER}",
    # "agent please", "human pls" (but not "can the agent please check")
    r"(?<!\bthe )(?<!\bour )(?<!\bmy )(?<!\bthis )(?<!\bthat )(?<!\beach )"
    r"\b(?:humans?|agent|person|representative|operator|rep)[\s,.!-]+(?:please|pls|plz)\b",
    # the whole message is the request: "Agent!!!", "human now", "representative"
    rf"^\W*{_DET}(?:{_STRONG}|rep|live chat)(?:[\s,.!-]+(?:please|pls|plz|now|asap))*\W*$",
    # "is there a real person", "live agent", "an actual human"
    r"\b(?:real|live|actual)\s+(?:persons?|humans?|people|agents?|representatives?)\b",
    # refusing the bot: "stop the bot", "no more bots", "I don't want to talk to a robot"
    r"\b(?:stop|enough(?:\s+with)?|no\s+more|quit|bypass|skip|get\s+rid\s+of)\s+"
    r"(?:the\s+|this\s+|your\s+)?(?:bots?|robots?|chatbots?|ai|machines?|automated\s+"
    r"(?:replies|responses|answers|messages)|auto-?repl(?:y|ies))\b",
    r"(?<!\bi'm )(?<!\bim )(?<!\bi am )\bnot\s+(?:a|an|the|another)\s+(?:bot|robot|chatbot|machine)\b",
    r"\bno\s+(?:bots?|robots?|chatbots?|machines?)\b",
    r"\bnot\s+(?:an?\s+)?ai(?=\s*(?:$|[.!?,;]|\bplease\b))",
    r"\b(?:don't|dont|do not|won't|wont|will not)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+"
    r"(?:to|with)\s+)?(?:a\s+|an\s+|the\s+|your\s+|this\s+)?(?:bots?|robots?|chatbots?|ai|"
    r"machines?|automated)\b",
]
_HUMAN_RE = re.compile("|".join(f"(?:{p})" for p in _HUMAN_PATTERNS))


def _normalise(text: str) -> str:
    """Lowercase, straight apostrophes, single spaces; punctuation kept (it marks boundaries)."""
    text = text[:MAX_CHARS].replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"\s+", " ", text.lower()).strip()


def wants_human(text: str) -> bool:
    """True when the customer explicitly asks for a person or refuses the bot."""
    for sentence in re.split(r"(?<=[.!?;\n])\s+", _normalise(text)):
        if _HUMAN_RE.search(sentence):
            return True
    return False


def _wordset(words: str) -> list[str]:
    return words.split()


def _weights(weight: float, words: str) -> dict[str, float]:
    return dict.fromkeys(words.split(), weight)


# --- negativity --------------------------------------------------------------------------------

# word -> weight. Problem words ("error", "bug", "broken") are light: reporting a problem is not
# anger. Anger, contempt and despair are heavy.
_NEGATIVE: dict[str, float] = {
    **_weights(
        0.6,
        """bad poor slow confusing confused annoying worried upset unhappy sad wrong broken again
        lost difficult hard unclear missing""",
    ),
    **_weights(
        1.6,
        """annoyed frustrating frustrated frustration disappointed disappointing disappointment
        irritated irritating fail fails failed failing useless unreliable mess messed nightmare
        painful waste wasted wasting sloppy rude ignored ignoring unhelpful joke clueless stupid
        dumb lousy crappy ridiculous absurd unprofessional angry mad hopeless fed sick tired""",
    ),
    **_weights(
        2.8,
        """terrible awful horrible horrendous dreadful worst hate hated hating furious livid
        outraged outrageous unacceptable disgusting disgraceful pathetic incompetent incompetence
        appalling atrocious scam scammed fraud fraudulent robbery stealing thieves garbage trash
        rubbish sucks sucked infuriating infuriated enraged shameful shame abysmal insulting
        insult despicable worthless""",
    ),
}
_PROFANITY = frozenset(
    _wordset(
        """fuck fucking fucked fucker fck fuk shit shitty bullshit crap damn damned dammit goddamn
        wtf ffs bs asshole assholes bastard bastards bitch screw screwed piss pissed hell idiot
        idiots moron morons"""
    )
)
_PROFANITY_WEIGHT = 2.8
_POSITIVE: dict[str, float] = {
    **_weights(
        0.5,
        """thanks thank thx please appreciate appreciated glad nice fine ok okay good helpful kind
        cheers works worked resolved solved fixed""",
    ),
    **_weights(
        1.2,
        """great love loved awesome excellent amazing perfect fantastic wonderful brilliant happy
        pleased satisfied grateful""",
    ),
}
_INTENSIFIERS = frozenset(
    _wordset(
        """very really so extremely absolutely totally completely utterly incredibly seriously
        truly beyond super insanely ridiculously most such fucking"""
    )
)
_NEGATIONS = frozenset(
    _wordset(
        """not no never nothing nobody none neither nor without hardly barely cannot cant dont
        doesnt didnt isnt wasnt wont aint"""
    )
)
# Multi-word signals, matched on the normalised text: (pattern, weight).
_PHRASES: list[tuple[re.Pattern[str], float]] = [
    # threats: money back by force, lawyers, public complaints
    (
        re.compile(
            r"\b(?:charge ?backs?|dispute (?:the|this|my|a) (?:charge|payment|transaction))"
        ),
        6.0,
    ),
    (
        re.compile(
            r"\b(?:sue|suing|lawsuit|lawyers?|attorneys?|legal action|small claims|court)\b"
        ),
        6.0,
    ),
    (re.compile(r"\breport (?:you|this|your company)\b|\bbetter business bureau\b|\bbbb\b"), 4.0),
    # threats to leave (not a calm "how do I cancel my plan")
    (
        re.compile(
            r"\b(?:i'?ll|i will|i'm going to|im going to|gonna|or i|otherwise i|ready to|"
            r"about to|going to)\s+(?:just\s+)?(?:cancel|leave|switch|quit|close my account)"
        ),
        3.5,
    ),
    (re.compile(r"\b(?:switch(?:ing)? to|moving to|move to) (?:a |another )?competitor"), 3.5),
    (re.compile(r"\bnever (?:again|use you|recommend|buy)"), 3.0),
    (re.compile(r"\b(?:bad|negative|1[- ]star|one[- ]star) reviews?\b"), 2.5),
    # exhaustion and repetition
    (
        re.compile(
            r"\b(?:fed up|sick and tired|sick of|had enough|last straw|enough is enough|"
            r"at my wits'? end|beyond frustrated)\b"
        ),
        3.0,
    ),
    (
        re.compile(
            r"\b(?:\d+(?:st|nd|rd|th)?|third|fourth|fifth|several|multiple|many|countless|"
            r"so many)\s+times?\b"
        ),
        1.2,
    ),
    (re.compile(r"\bstill (?:not|doesn'?t|isn'?t|broken|waiting|no)\b"), 1.5),
    (
        re.compile(
            r"\b(?:no ?one|nobody) (?:has |have |ever )?(?:responded|replied|answered|"
            r"helped|called|gets? back)"
        ),
        2.0,
    ),
    (re.compile(r"\bwaiting (?:for )?(?:\d+ |several |many )?(?:days|weeks|months)\b"), 1.5),
    (re.compile(r"\bwhat the (?:hell|heck|f)\b|\bare you (?:kidding|serious|joking)\b"), 2.0),
    (re.compile(r"\bwaste of (?:time|money)\b"), 1.5),
]
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']*")
# Common shouting-free capitals (acronyms) that must not count as ALL CAPS.
_ACRONYMS = frozenset(
    _wordset(
        """
        API URL PDF CSV SSO SMS FAQ USA EUR USD GBP VAT IBAN ASAP ID IT HR CEO CTO DNS SSL
        TLS HTTP HTTPS JSON XML SQL iOS VPN MFA OTP PIN SAML CRM ERP OK
        """
    )
)


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def _shouting(words: list[str]) -> tuple[float, set[int]]:
    """(bonus, indexes of shouted words): all-caps words of 3+ letters that are not acronyms."""
    shouted = {i for i, w in enumerate(words) if len(w) >= 3 and w.isupper() and w not in _ACRONYMS}
    long_words = sum(1 for w in words if len(w) >= 3)
    bonus = 0.0
    if len(shouted) >= 2 and long_words and len(shouted) / long_words >= 0.5:
        bonus = 2.5  # the whole message is shouted
    elif len(shouted) >= 2:
        bonus = 0.8
    return bonus, shouted


def _punctuation_bonus(text: str) -> float:
    runs = re.findall(r"[!?]{2,}", text)
    exclamations = text.count("!")
    bonus = 0.0
    if any("!" in run for run in runs):
        bonus += 1.0
    if any("?" in run for run in runs):
        bonus += 0.5
    if exclamations >= 4:
        bonus += 0.5
    return bonus


_CONTRACTED_NOT = re.compile(
    r"^(?:don|doesn|didn|isn|wasn|won|can|couldn|wouldn|shouldn|aren|haven|hasn|weren)t$"
)


def _lexicon_score(words: list[str], shouted: set[int]) -> float:
    score = 0.0
    negate_left = 0  # words still under a negation's scope
    boost_left = 0  # words still under an intensifier's scope
    for i, raw in enumerate(words):
        word = raw.lower().replace("'", "")
        if word in _NEGATIONS or _CONTRACTED_NOT.match(word):
            negate_left = 3
            continue
        if word in _INTENSIFIERS and word not in _PROFANITY:
            boost_left = 2
            continue
        weight = _PROFANITY_WEIGHT if word in _PROFANITY else _NEGATIVE.get(word, 0.0)
        weight = weight or -_POSITIVE.get(word, 0.0)
        if weight != 0.0:
            weight *= (1.5 if boost_left > 0 else 1.0) * (1.5 if i in shouted else 1.0)
            if negate_left > 0:
                # "not happy" turns negative; "not bad" is mildly positive, not praise.
                weight = -0.8 * weight if weight < 0 else -0.3 * weight
            score += weight
            negate_left = 0
            # "fucking awful": a sworn word also intensifies the next one.
            boost_left = 2 if word in _INTENSIFIERS else 0
            continue
        negate_left = max(0, negate_left - 1)
        boost_left = max(0, boost_left - 1)
    return score


def negativity(text: str) -> float:
    """How angry or hostile the text is, in [0, 1]; 0 for neutral or positive text."""
    text = text[:MAX_CHARS]
    if not text.strip():
        return 0.0
    normal = _normalise(text)
    words = _words(text)
    shout_bonus, shouted = _shouting(words)
    raw = _lexicon_score(words, shouted) + shout_bonus + _punctuation_bonus(text)
    raw += sum(weight for pattern, weight in _PHRASES if pattern.search(normal))
    if raw <= 0.0:
        return 0.0
    return min(1.0, 1.0 - math.exp(-raw / SCALE))


# --- vagueness ---------------------------------------------------------------------------------

_FILLER = frozenset(
    _wordset(
        """a about above after again all am an and any anything are as at be been being but by can
    could did do does doing don't for from get got had has have having hello help hey hi how i
    i'm if in is issue issues it it's its just me my need needs no not of on or our please
    problem problems question questions so some something stuff than thank thanks that the
    their them then there this thing things to too up us very want was we what when where which
    who why will with work working works would wrong you your yours broken error errors fix
    urgent asap ok okay anyone someone support trouble still again going doesn't isn't can't
    won't didn't cannot"""
    )
)
VAGUE_MAX_CONTENT_WORDS = 1
VAGUE_MAX_WORDS = 25


def content_words(text: str) -> list[str]:
    """The words that say what the message is about (filler and greetings removed)."""
    words = [w.lower() for w in _words(text[:MAX_CHARS])]
    return [w for w in words if len(w) >= 3 and w not in _FILLER]


def is_vague(text: str) -> bool:
    """True when a short message names at most one subject ("it's broken", "billing problem"),
    so a clarifying question would help more than a guess."""
    if len(_words(text[:MAX_CHARS])) > VAGUE_MAX_WORDS:
        return False
    return len(content_words(text)) <= VAGUE_MAX_CONTENT_WORDS


# --- Answers to "Did this solve your problem?" ------------------------------------------------

CONFIRMATION_MAX_WORDS = 12
_YES = re.compile(
    r"^(?:yes|yep|yeah|yup|y|sure|correct|perfect|great|awesome|ok(?:ay)?|thanks?|thank you|ty|"
    r"(?:yes|yeah|yep)[, ]+(?:it|that|this)\s+(?:did|worked|helped|solved it|fixed it)|"
    r"(?:it|that|this)\s+(?:worked|helped|did it|solved it|fixed it|did the trick|solved my problem)|"
    r"(?:problem|issue)\s+(?:solved|fixed|resolved)|all (?:good|sorted|set)|solved|fixed|resolved|works now)"
    r"(?:[\s,.!]+(?:thanks?|thank you(?: so much| very much)?|cheers|ty|a lot|!)*)*[\s.!]*$"
)
_NO = re.compile(
    r"^(?:no|nope|nah|n|not really|not at all|"
    r"(?:no[, ]+)?(?:it|that|this)\s+(?:didn'?t|did not|does not|doesn'?t)\s+(?:work|help|solve it|fix it)|"
    r"(?:still|it'?s still)\s+(?:broken|not working|doesn'?t work|the same)|didn'?t (?:work|help))"
    r"(?:[\s,.!]+.*)?$"
)


def confirmation(text: str) -> bool | None:
    """A short reply that plainly says yes (solved) or no (not solved); None for anything else
    (a new question, details, a mixed answer), which the engine then treats as a new turn."""
    normal = " ".join(text.lower().replace("\u2019", "'").split())
    if not normal or len(normal.split()) > CONFIRMATION_MAX_WORDS:
        return None
    if _NO.match(normal):
        return False
    if _YES.match(normal):
        return True
    return None
