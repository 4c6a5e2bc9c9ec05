"""An OPC UA server for the plant (OPC 40100 Machine Vision where it fits), off the line's path."""
