"""Event and property definitions: what each project sends, with types and volumes."""
