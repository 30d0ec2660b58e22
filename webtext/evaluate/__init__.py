"""Zero-shot evaluation of a checkpoint (GPT-2 paper, section 3): perplexity with a sliding
window, LAMBADA-style last-word accuracy and CBT-style cloze. torch is imported lazily."""
