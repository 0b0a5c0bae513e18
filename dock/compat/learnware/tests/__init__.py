"""`learnware.tests`: the templates that pack a learnware the reference's way."""
