// written by another engineer
