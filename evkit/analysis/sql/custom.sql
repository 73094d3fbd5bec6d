-- custom: the analyst's own queries ([rules.NAME] in the config, docs/rules.md), each cast to the
-- findings contract by evkit/analysis/rules.py into the view custom_rule_findings (check 'custom',
-- missing columns null, the rule's name leading the detail). Cannot know: whatever the queries do not say.
CREATE OR REPLACE VIEW custom_findings AS
SELECT * FROM custom_rule_findings;
