"""The station's alarms: one catalogue, one owner per alarm, one board (ISA-18.2 states) kept by the actuator."""
