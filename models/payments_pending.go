package models

import "gorm.io/gorm"

// SettlementPending is the ledger's settlement_result of a payment the facilitator broadcast
// but has not confirmed yet (x402's settlement_pending): the row is unpaid until the
// dispatcher's payment lock reports the final outcome.
const SettlementPending = "settlement_pending"

// finishPending applies a final report (settled, or failed for good) to the pending ledger row
// of the same payment. It reports whether a row changed.
func finishPending(tx *gorm.DB, p *Payment) (bool, error) {
	if p.SettlementResult == SettlementPending {
		return false, nil
	}
	q := tx.Model(&Payment{}).
		Where("network = ? AND nonce = ? AND success = ? AND settlement_result = ?", p.Network, p.Nonce, false, SettlementPending).
		Updates(map[string]any{"success": p.Success, "settlement_result": p.SettlementResult, "transaction": p.Transaction})
	return q.RowsAffected > 0, q.Error
}
