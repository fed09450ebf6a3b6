"""The musician, with no threads, no ports and no torch: what the engine decides, testable offline.

    played      PlayedNote: a note as played (seconds); phrase_melody puts a phrase on a beat grid, quantize snaps it
    tempo       the player's tempo and beat phase from a phrase's onsets
    keys        the key of what is played, and named scales for the key lock
    phrase      PhraseDetector: when the player's phrase has ended; how long the answer is
    settings    LiveSettings: temperature, top-p, length, mode, amount, scale, channel
    responder   Responder: hears a call note by note, answers it note by note
    offline     respond(): the same decisions on a call read from a file
"""
