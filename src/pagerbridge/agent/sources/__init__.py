"""The agent's event sources (syslog, SNMP traps, Alertmanager, JSON hooks): see ``base``."""
