"""The pure core: value types, risk model, closure policy and clock arithmetic. No I/O, no clock reads."""
