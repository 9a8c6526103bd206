"""Answer "what can you do?" from the skill docs themselves, user skills included."""
import re

_ASK = re.compile(r"\bwhat (?:else )?(?:can|could) (?:you|i ask you to) (?:do|help)\b|\bwhat can i ask you\b|"
                  r"\bwhat (?:are|is) (?:you|your) (?:capable|able|skills|features|abilities|commands|good at)|"
                  r"\bwhat (?:skills|features|abilities|commands) (?:do you|are there)|\bhow can you help\b|"
                  r"\bwhat (?:kinds?|sorts?|type) of things can (?:you|i ask you)\b|\bwhat do you know how to do\b|"
                  r"\bhow (?:can|could) you be (?:useful|helpful)|\bwhat can you help (?:me )?with\b|"
                  r"\bwhat are you able to\b|^(?:\w+\s+)?help\W*$|\bwhat (?:can you|you can) do\b", re.I)


def parse(text: str):
    t = text.strip(" .!?")
    # "what can you do to help with my homework" asks for something else
    if _ASK.search(t) and not re.search(r"\b(?:to|about|with) (?:my|the|this|a)\b", t, re.I):
        return {}
    return None


def run(args: dict, ctx) -> str:
    acts = []
    for s in ctx.skills():
        said = s.summary or s.title.lower()
        if s.acts and s.name != "capabilities" and said not in acts:   # related skills share a summary
            acts.append(said)
    if not acts:
        return "I can talk with you and remember what you tell me."
    listed = ", ".join(acts[:-1]) + f", and {acts[-1]}" if len(acts) > 1 else acts[0]
    return (f"I can {listed}. Beyond that, ask me anything and I'll answer from what I know "
            "and what you've told me, all on this computer.")
