"""What StreamGuard knows about the C language, below every other package.

- grammar: the tree-sitter C grammar and the node-type vocabulary derived from it;
- normalise: project macros blanked so that tree-sitter parses a function head;
- functions: the one extractor that cuts function definitions out of C source;
- literals: string, character and number literals replaced by placeholders;
- tokens: C comments stripped and code tokens counted;
- suffixes: which file names are read as C.
"""
