"""Training and evaluation data: procedural cel shots, animated clip-art drawings and shots
built from footage, all as one ``Shot`` type (colour frames, line-art frames, palette)."""
