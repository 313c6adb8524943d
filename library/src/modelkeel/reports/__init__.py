"""What people read: markdown tables (`tables`) and plots (`plots`) shared by evaluate, the model card, `report` and the loop."""
