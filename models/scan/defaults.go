package scan

// Defaults is the starting rule set. Every rule is a row of the table test (scan_test.go), with
// samples it must catch and a benign minified library it must leave alone.
func Defaults() []Rule {
	return []Rule{
		{Name: "crypto-mining", Kind: KindPattern, Severity: "high", Action: ActionBlock,
			Pattern: `(?i)stratum\+(?:tcp|ssl|tls)://|\bcoinhive\b|\bcryptonight\b|\bcoin-?imp\b|\bxmrig\b|\bnicehash\b|\b(?:supportxmr|minexmr|hashvault|moneroocean|nanopool|2miners|f2pool)\.(?:com|org|net|pro|stream)\b|\bwebminepool\b`,
			Message: "Crypto-mining code and mining pools are not allowed on this platform."},
		{Name: "eval-of-fetched-code", Kind: KindPattern, Severity: "high", Action: ActionFlag,
			// Case-sensitive, as JavaScript is: "function(" is everywhere in minified code, "Function(" is not.
			Pattern: `\b(?:eval|Function)\s*\(\s*(?:await\s+)?(?:atob\s*\(|[\w.$\[\]'"]{0,80}\.(?:text|json)\s*\(\)|\(?\s*await\s+fetch)`,
			Message: "Runs code fetched or decoded at run time (eval / new Function on fetched or base64 text)."},
		{Name: "obfuscation", Kind: KindCheck, Pattern: "obfuscation", Severity: "medium", Action: ActionFlag,
			Message: "The code is obfuscated (not merely minified): a reviewer should look at what it does."},
		{Name: "phishing-kit", Kind: KindPattern, Severity: "high", Action: ActionFlag,
			Pattern: `(?i)\byour (?:account|mailbox|apple id|password) (?:has been|was|will be) (?:suspended|locked|disabled|limited|deactivated)\b|\bverify your (?:identity|account|billing|payment) (?:information|details|now)\b|\b(?:office ?365|outlook|paypal|apple ?id|wells ?fargo|chase|netflix) (?:log ?in|sign[- ]?in)\b.{0,200}\bpassword\b|api\.telegram\.org/bot[^"'\s]*/send(?:Message|Document)`,
			Message: "Looks like a phishing kit (a brand's login page, account-suspended lures, credentials sent to a chat bot)."},
		{Name: "attack-tooling", Kind: KindPattern, Severity: "high", Action: ActionFlag,
			Pattern: `(?i)\b(?:ip ?stresser|booter|layer ?7 (?:attack|flood)|http[- ]flood|slowloris|syn[- ]flood|udp[- ]flood|cc[- ]attack)\b`,
			Message: "Mentions denial-of-service tooling (stressers, floods)."},
	}
}
