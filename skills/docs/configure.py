"""Speak slower/faster/louder/quieter, or "call me Sam": edits the user's config file."""
import re

SPEED = ("tts.speed", 0.15, 0.5, 2.0)        # key, step, lowest, highest a voice request may reach
VOLUME = ("tts.volume", 0.25, 0.25, 2.0)


def parse(text: str):
    t = text.lower().strip(" .!?")
    m = re.search(r"\bcall me\s+(.+)$", text.strip(" .!?"), re.I)
    if m and not re.search(r"\b(stop|don'?t|do not|no longer|never)\b\s+call", t):
        name = re.sub(r"\s+(please|from now on|instead)$", "", m.group(1).strip(), flags=re.I)
        words = name.split()
        # a name, not "call me a taxi" or "call me when you're ready"
        if 1 <= len(words) <= 3 and not re.match(r"(a|an|the|when|if|later|back|tomorrow|after|before|at|in|on|"
                                                  r"up|now|soon|sometime|anything|something|whatever)\b", name, re.I) \
                and not re.search(r"\b(you|your|you're|me|my)\b", name, re.I):
            return {"setting": "name", "change": "set", "value": name[:40]}
        return None
    if re.search(r"\b(stop|don'?t|do not|no longer)\s+call(ing)? me\b|\bforget my name\b", t):
        return {"setting": "name", "change": "reset"}
    # about my voice, not the world: "the neighbours are so loud", "the speed of sound"
    if not re.search(r"\b(you|your|you're|speak|speaking|talk|talking|voice|volume|speech|sound|say)\b", t) \
            or re.search(r"\b(of (light|sound)|internet|car|music|tv|neighbou?rs?|computer|spanish|french|english)\b", t):
        if not re.match(r"^(?:please\s+)?(?:louder|quieter|softer|slower|faster|slow down|speed up)\b", t):
            return None
    speed = re.search(r"\b(slow(er|ly)?|fast(er)?|quick(er|ly)?|speed|pace|rapid|hurry|too quick)\b", t)
    volume = re.search(r"\b(loud(er|ly)?|quiet(er|ly)?|soft(er|ly)?|volume|speak up|hear you|whisper|"
                       r"turn (it|your voice) (up|down)|voice (up|down)|(lower|raise|drop) your voice)\b", t)
    if not speed and not volume:
        return None
    setting = "speed" if speed and not volume else "volume"
    if re.search(r"\b(normal|default|usual|regular|reset|back to)\b", t):
        return {"setting": setting, "change": "reset"}
    if setting == "speed":
        down = re.search(r"\b(slow(er)?|too (fast|quick(ly)?)|slow down|less fast|more slowly)\b", t) \
            and not re.search(r"\btoo slow(ly)?\b", t)
        return {"setting": "speed", "change": "down" if down else "up"}
    down = re.search(r"\b(quiet(er|ly)?|soft(er|ly)?|too loud|down|lower|whisper|less loud)\b", t) \
        and not re.search(r"\btoo (quiet|soft)(ly)?\b|\bcan'?t hear\b", t)
    return {"setting": "volume", "change": "down" if down else "up"}


def run(args: dict, ctx) -> str:
    setting, change = args["setting"], args["change"]
    if setting == "name":
        if change == "reset" or not args.get("value"):
            ctx.settings.reset("llm.user_name")
            return "Okay, I won't use a name for you."
        ctx.settings.set("llm.user_name", args["value"])
        return f"Okay, I'll call you {args['value']}."
    key, step, low, high = SPEED if setting == "speed" else VOLUME
    words = {"speed": ("faster", "slower", "speed"), "volume": ("louder", "more quietly", "volume")}[setting]
    if change == "reset":
        ctx.settings.reset(key)
        return f"Okay, back to my normal {words[2]}."
    current = ctx.settings.get(key)
    if change == "set":
        try:
            target = float(args.get("value", ""))
        except ValueError:
            return f"Sorry, I need a number for my {words[2]}."
    else:
        target = current + (step if change == "up" else -step)
    target = round(min(high, max(low, target)), 2)
    if target == current:
        return f"I'm already speaking as {'fast' if setting == 'speed' else 'loud'}ly as I can." if change == "up" \
            else f"I'm already speaking as {'slow' if setting == 'speed' else 'quiet'}ly as I can."
    ctx.settings.set(key, target)
    return f"Okay, I'll speak {words[0] if target > current else words[1]} now."
