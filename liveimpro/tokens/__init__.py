"""Melodies as token sequences, for the next-note models (numpy only).

    vocab       Vocabulary: token triples <-> ids, nearest-token search for unseen curves
    grid        the quantisation grid both tokenizers share
    event       Event (one note or chord on the grid) and grid_timeline
    base        the Tokenizer both kinds share
    curve       CurveTokenizer: interval and timing from the previous note (the default)
    note        NoteTokenizer: absolute pitch or chord and timing
    registry    load_tokenizer: a tokenizer's JSON, whichever kind
"""
