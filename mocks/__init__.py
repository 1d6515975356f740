"""The federal counterparts of an e-journal as ASGI apps (ЕСИА; later СМЭВ 4 / ПОДД and ЕПГУ).

Each mock is runnable alone (`ezhd mocks up NAME`) or mounted in-process, keeps its state
in a core object apart from its thin HTTP layer, offers an admin API under `/_admin` for
scenario setup, fault injection and its request journal, and knows no particular journal
and nothing of the conformance suite: it reads only `specs/`.
"""
