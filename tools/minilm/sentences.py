"""The fixed sentences whose reference embeddings ship in reference.json.

Four topics with paraphrases (so the similarity structure is visible), plus
sentences that exercise the tokenizer: accents, casing, punctuation, digits,
a word split into several word pieces, CJK characters and an emoji.
"""

REFERENCE_SENTENCES = [
    "The cat sits on the mat.",
    "A cat is sitting on a rug.",
    "My kitten sleeps on the carpet all afternoon.",
    "The stock market fell sharply after the interest rate announcement.",
    "Shares dropped when the central bank raised rates.",
    "Investors sold equities following the rate hike.",
    "How do I reset my password?",
    "I forgot my login credentials and need to change them.",
    "What is the procedure for recovering a lost account password?",
    "Heavy rain is expected in the north tomorrow.",
    "The forecast says it will pour in northern regions tomorrow.",
    "Sunny skies and warm temperatures this weekend.",
    "Crème brûlée is a French dessert — délicieux!",
    "UNCASED text Is LOWER-cased by the tokenizer.",
    "Version 2.15.1 was released on 2024-03-08 at 10:45.",
    "Antidisestablishmentarianism is an unusually long word.",
    "東京は日本の首都です。",
    "Great job 👍 see you soon",
    "short",
    "This is a somewhat longer sentence that keeps going, with several clauses, commas and details, "
    "so that the batch contains a sequence far longer than the others and padding matters.",
]

# Tokenizer-only cases (not embedded by the tests): the longest one is cut at
# sentence-transformers' max_seq_length, which the TypeScript tokenizer must reproduce.
TOKENIZER_ONLY_SENTENCES = [
    "",
    "   leading and trailing spaces   ",
    "word " * 300,
]
