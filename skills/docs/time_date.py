"""The time, the date, or both, in the configured time zone."""
import re

# A request for the time or date says little else: whatever is left after these words
# ("does the sun set in winter", "of the next full moon") makes it a different question.
_FILLER = {"what", "whats", "what's", "is", "it", "its", "it's", "the", "time", "date", "day", "today", "todays",
           "today's", "now", "right", "current", "currently", "tell", "me", "please", "could", "can", "would",
           "you", "do", "have", "got", "know", "of", "week", "which", "and", "a", "this", "exactly", "hey", "ok",
           "okay", "so", "at", "moment", "the", "we", "say", "give", "im", "i'm", "wondering", "remind", "again",
           "let", "tell", "us", "what's", "there", "o'clock",
           "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "month", "year"}


def parse(text: str):
    t = text.lower()
    words = re.findall(r"[a-z']+", t)
    if not words or set(words) - _FILLER:
        return None
    date = bool(re.search(r"\b(date|day|today'?s?|monday|tuesday|wednesday|thursday|friday|saturday|sunday|month)\b", t))
    time = bool(re.search(r"\btime\b", t))
    if not date and not time:
        return None
    return {"what": "both" if date and time else "date" if date else "time"}


def run(args: dict, ctx) -> str:
    now = ctx.clock.now()
    clock = now.strftime("%I:%M %p").lstrip("0")
    day = now.strftime("%A, %B ") + str(now.day)
    if args["what"] == "time":
        return f"It's {clock}."
    if args["what"] == "date":
        return f"Today is {day}, {now.year}."
    return f"It's {clock} on {day}, {now.year}."
